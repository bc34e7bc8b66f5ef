/**
 * CIFAR binary layouts. CIFAR-10 (`cifar-10-batches-bin/`): data_batch_1..5.bin + test_batch.bin, records
 * of 1 label byte + 1024 R + 1024 G + 1024 B (32x32 row-major, i.e. CHW). CIFAR-100 (`cifar-100-binary/`):
 * train.bin + test.bin, records of coarse label byte, fine label byte, then the same 3072 pixel bytes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { Split } from './types.js';

export const CIFAR_PIXELS = 3 * 32 * 32;

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

interface LabelField {
  /** byte position of the label inside the record */
  offset: number;
  numClasses: number;
}

/** Read several record files into one split; every file must be a whole number of records. */
export function readCifarRecords(paths: string[], labelBytes: number, label: LabelField, alsoCheck: LabelField[] = []): Split {
  const rec = labelBytes + CIFAR_PIXELS;
  const bufs: Uint8Array[] = [];
  let n = 0;
  for (const p of paths) {
    let b: Uint8Array;
    try {
      b = readFileSync(p);
    } catch (e) {
      throw new UsageError(`${p}: cannot read CIFAR batch (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (b.length === 0 || b.length % rec !== 0) {
      throw new UsageError(`${p}: ${b.length} bytes is not a whole number of ${rec}-byte CIFAR records (truncated or wrong dataset?)`);
    }
    // Every label byte (coarse and fine) must be in range, not only the chosen one.
    const nr = b.length / rec;
    for (const f of [label, ...alsoCheck]) {
      for (let i = 0; i < nr; i++) {
        const v = b[i * rec + f.offset]!;
        if (v >= f.numClasses)
          throw new UsageError(`${p}: record ${i} has label ${v} in byte ${f.offset}, not below ${f.numClasses} classes`);
      }
    }
    bufs.push(b);
    n += nr;
  }
  const images = new Uint8Array(n * CIFAR_PIXELS);
  const labels = new Uint8Array(n);
  let k = 0;
  for (const b of bufs) {
    const nr = b.length / rec;
    for (let i = 0; i < nr; i++, k++) {
      labels[k] = b[i * rec + label.offset]!;
      images.set(b.subarray(i * rec + labelBytes, (i + 1) * rec), k * CIFAR_PIXELS);
    }
  }
  return { images, labels, n };
}

function requireFiles(dir: string, names: string[]): string[] {
  return names.map((f) => {
    const p = join(dir, f);
    if (!existsSync(p)) throw new UsageError(`${p}: missing CIFAR batch file (expected ${names.join(', ')} in ${dir})`);
    return p;
  });
}

/** Non-empty lines of a class-name file, or undefined when it is absent. */
function readNames(path: string, numClasses: number): string[] | undefined {
  if (!existsSync(path)) return undefined;
  const names = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== numClasses) throw new UsageError(`${path}: ${names.length} class names but the dataset has ${numClasses} classes`);
  return names;
}

/** Accept the batch folder itself or a parent that contains it under its usual name. */
function locate(dir: string, sub: string, marker: string): string {
  if (existsSync(join(dir, marker))) return dir;
  if (existsSync(join(dir, sub, marker))) return join(dir, sub);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir}: CIFAR folder does not exist`);
  throw new UsageError(`${dir}: no ${marker} here or in ${sub}/ (CIFAR binary version expected)`);
}

export function readCifar10(dir: string): { train: Split; test: Split; classNames: string[]; dir: string } {
  const d = locate(dir, 'cifar-10-batches-bin', 'test_batch.bin');
  const label = { offset: 0, numClasses: 10 };
  const train = readCifarRecords(
    requireFiles(
      d,
      [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    ),
    1,
    label,
  );
  const test = readCifarRecords(requireFiles(d, ['test_batch.bin']), 1, label);
  return { train, test, classNames: readNames(join(d, 'batches.meta.txt'), 10) ?? CIFAR10_CLASSES, dir: d };
}

export type Cifar100Label = 'fine' | 'coarse';

export function readCifar100(dir: string, which: Cifar100Label = 'fine') {
  const d = locate(dir, 'cifar-100-binary', 'test.bin');
  const [train, test] = ['train.bin', 'test.bin'].map((f) => {
    const coarse = { offset: 0, numClasses: 20 };
    const fine = { offset: 1, numClasses: 100 };
    // Both label bytes are validated; the chosen one is kept.
    return which === 'fine'
      ? readCifarRecords(requireFiles(d, [f]), 2, fine, [coarse])
      : readCifarRecords(requireFiles(d, [f]), 2, coarse, [fine]);
  }) as [Split, Split];
  const numClasses = which === 'fine' ? 100 : 20;
  const classNames = readNames(join(d, `${which}_label_names.txt`), numClasses);
  return { train, test, numClasses, classNames, dir: d };
}
