import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDataset } from '../src/data/resolve.js';
import { readCifar100 } from '../src/data/cifar.js';
import { UsageError } from '../src/util/errors.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('cifar-test-');

/** Pixel value of record k (global index g), channel c, row y, column x: unique enough to catch mixups. */
const pix = (g: number, c: number, y: number, x: number) => (g * 37 + c * 100 + y * 3 + x) % 256;

/** Records laid out as in the official binary: label byte(s), then R plane, G plane, B plane, row-major. */
function records(labels: number[][], firstGlobal: number): Buffer {
  const lb = labels[0]!.length;
  const rec = lb + 3072;
  const b = Buffer.alloc(labels.length * rec);
  labels.forEach((l, k) => {
    l.forEach((v, j) => (b[k * rec + j] = v));
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) b[k * rec + lb + c * 1024 + y * 32 + x] = pix(firstGlobal + k, c, y, x);
    }
  });
  return b;
}

function cifar10Dir(): string {
  const root = join(tmp, 'c10');
  const d = join(root, 'cifar-10-batches-bin');
  mkdirSync(d, { recursive: true });
  for (let i = 1; i <= 5; i++) writeFileSync(join(d, `data_batch_${i}.bin`), records([[i - 1], [(i + 4) % 10]], (i - 1) * 2));
  writeFileSync(join(d, 'test_batch.bin'), records([[7], [3], [9]], 1000));
  writeFileSync(join(d, 'batches.meta.txt'), 'a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n');
  return root;
}

test('CIFAR-10 binary: R plane first, label bytes, batch order, class names', async () => {
  const root = cifar10Dir();
  // Both the batch folder and its parent are accepted.
  for (const dir of [root, join(root, 'cifar-10-batches-bin')]) {
    const ds = await resolveDataset('cifar10', dir);
    assert.deepEqual([ds.channels, ds.height, ds.width, ds.numClasses], [3, 32, 32, 10]);
    assert.equal(ds.train.n, 10);
    assert.equal(ds.test.n, 3);
    assert.deepEqual([...ds.train.labels], [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]);
    assert.deepEqual([...ds.test.labels], [7, 3, 9]);
    assert.equal(ds.classNames![3], 'a3');
    for (const [split, base] of [
      [ds.train, 0],
      [ds.test, 1000],
    ] as const) {
      for (let k = 0; k < split.n; k++) {
        for (const [c, y, x] of [
          [0, 0, 0],
          [0, 5, 17],
          [1, 0, 0],
          [2, 31, 31],
          [1, 12, 3],
        ] as const) {
          assert.equal(split.images[k * 3072 + c * 1024 + y * 32 + x], pix(base + k, c, y, x), `img ${k} c${c} y${y} x${x}`);
        }
      }
    }
  }
});

test('CIFAR-10 without batches.meta.txt uses the standard class names', async () => {
  const root = cifar10Dir();
  unlinkSync(join(root, 'cifar-10-batches-bin', 'batches.meta.txt'));
  const ds = await resolveDataset('cifar10', root);
  assert.equal(ds.classNames![0], 'airplane');
  assert.equal(ds.classNames![9], 'truck');
});

test('CIFAR-100 binary: coarse then fine label byte, fine by default', async () => {
  const d = join(tmp, 'c100', 'cifar-100-binary');
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'train.bin'),
    records(
      [
        [3, 99],
        [19, 0],
        [0, 42],
      ],
      0,
    ),
  );
  writeFileSync(join(d, 'test.bin'), records([[5, 55]], 500));
  writeFileSync(join(d, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `f${i}`).join('\n'));
  const ds = await resolveDataset('cifar100', join(tmp, 'c100'));
  assert.equal(ds.numClasses, 100);
  assert.deepEqual([...ds.train.labels], [99, 0, 42]);
  assert.deepEqual([...ds.test.labels], [55]);
  assert.equal(ds.classNames![42], 'f42');
  assert.equal(ds.train.images[2 * 3072 + 1024 + 40], pix(2, 1, 1, 8));
  assert.equal(ds.test.images[2048], pix(500, 2, 0, 0));
  const coarse = readCifar100(d, 'coarse');
  assert.equal(coarse.numClasses, 20);
  assert.deepEqual([...coarse.train.labels], [3, 19, 0]);
  assert.equal(coarse.classNames, undefined);
});

function expectUsage(p: Promise<unknown> | (() => unknown), file: string, re: RegExp) {
  const check = (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.ok(e.message.includes(file), `${e.message} should name ${file}`);
    assert.match(e.message, re);
    return true;
  };
  return typeof p === 'function' ? assert.throws(p, check) : assert.rejects(p, check);
}

test('truncated, mislabelled and incomplete CIFAR folders give one-line errors naming the file', async () => {
  const root = cifar10Dir();
  const d = join(root, 'cifar-10-batches-bin');
  const b3 = join(d, 'data_batch_3.bin');
  writeFileSync(b3, records([[1], [2]], 0).subarray(0, 3073 + 100));
  await expectUsage(resolveDataset('cifar10', root), b3, /3173 bytes is not a whole number of 3073-byte CIFAR records/);
  writeFileSync(b3, records([[1], [10]], 0));
  await expectUsage(resolveDataset('cifar10', root), b3, /record 1 has label 10 in byte 0, not below 10 classes/);
  writeFileSync(b3, Buffer.alloc(0));
  await expectUsage(resolveDataset('cifar10', root), b3, /0 bytes/);
  unlinkSync(b3);
  await expectUsage(resolveDataset('cifar10', root), b3, /missing CIFAR batch file/);
  // A CIFAR-100 file read as CIFAR-10 has the wrong record size.
  writeFileSync(
    b3,
    records(
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      0,
    ),
  );
  await expectUsage(resolveDataset('cifar10', root), b3, /not a whole number of 3073-byte/);
  writeFileSync(b3, records([[1], [2]], 0));
  writeFileSync(join(d, 'batches.meta.txt'), 'only\ntwo\n');
  await expectUsage(resolveDataset('cifar10', root), join(d, 'batches.meta.txt'), /2 class names but the dataset has 10/);
  await expectUsage(resolveDataset('cifar10', join(tmp, 'nowhere')), join(tmp, 'nowhere'), /does not exist/);
  await expectUsage(resolveDataset('cifar10', tmp), tmp, /no test_batch.bin/);
  await assert.rejects(resolveDataset('cifar10'), /not bundled; pass --data-dir/);

  const c = join(tmp, 'c100bad');
  mkdirSync(c);
  writeFileSync(join(c, 'train.bin'), records([[20, 1]], 0));
  writeFileSync(join(c, 'test.bin'), records([[1, 100]], 0));
  // The unused coarse byte is validated too.
  expectUsage(() => readCifar100(c), join(c, 'train.bin'), /label 20 in byte 0, not below 20/);
  writeFileSync(join(c, 'train.bin'), records([[1, 1]], 0));
  expectUsage(() => readCifar100(c), join(c, 'test.bin'), /label 100 in byte 1, not below 100/);
});
