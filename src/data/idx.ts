/**
 * IDX files (MNIST, Fashion-MNIST): bytes 0-1 zero, byte 2 the element type (0x08 = ubyte), byte 3 the
 * number of dims, dims as big-endian uint32, then row-major data. Raw or gzipped (detected by 1f 8b).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { UsageError } from '../util/errors.js';
import type { Split } from './types.js';

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export interface IdxArray {
  magic: number;
  dims: number[];
  data: Uint8Array;
}

/** Bytes an IDX file declares: its header plus the product of its dims (NaN when the header is incomplete). */
function declaredLength(head: Uint8Array): number {
  if (head.length < 4) return NaN;
  const ndim = head[3]!;
  if (head.length < 4 + 4 * ndim) return NaN;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let count = 1;
  for (let i = 0; i < ndim; i++) count *= dv.getUint32(4 + 4 * i, false);
  return 4 + 4 * ndim + count;
}

/**
 * Gunzip no more than the file declares: the header is read from the first output bytes, and the whole
 * stream is inflated with that size as the limit, so a small archive that expands without end (or
 * beyond its header) fails with one line instead of taking gigabytes.
 */
function gunzipBounded(buf: Uint8Array, path: string): Uint8Array {
  const corrupt = (e: unknown) => new UsageError(`${path}: corrupt gzip data (${(e as Error).message.split('\n')[0]})`);
  let head: Uint8Array;
  try {
    // a prefix of the stream, flushed without requiring its end: enough output for any IDX header
    head = gunzipSync(buf.subarray(0, 4096), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch (e) {
    throw corrupt(e);
  }
  const declared = declaredLength(head);
  // an incomplete header can only come from a tiny output; validation below names the problem
  const limit = Number.isNaN(declared) ? 4096 : declared;
  if (limit > 2 ** 32) throw new UsageError(`${path}: IDX header declares ${limit} bytes (over 4 GiB); not a dataset this tool reads`);
  try {
    return gunzipSync(buf, { maxOutputLength: limit + 1 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new UsageError(`${path}: gzip data expands beyond the ${limit} bytes its IDX header declares`);
    }
    throw corrupt(e);
  }
}

/** Read and validate one IDX ubyte file (gunzipping when it starts with 1f 8b). */
export function readIdx(path: string, expectMagic?: number): IdxArray {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UsageError(`${path}: cannot read IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipBounded(buf, path);
  if (buf.length < 4) throw new UsageError(`${path}: IDX file is ${buf.length} bytes, too short for a header`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new UsageError(`${path}: not an IDX file (first two bytes must be zero)`);
  if (buf[2] !== 0x08) throw new UsageError(`${path}: IDX element type 0x${buf[2]!.toString(16)} is not supported (only 0x08 ubyte)`);
  const ndim = buf[3]!;
  const magic = (buf[2]! << 8) | ndim;
  if (expectMagic !== undefined && magic !== expectMagic) {
    throw new UsageError(
      `${path}: IDX magic ${magic} but expected ${expectMagic} (${expectMagic === IDX_IMAGES_MAGIC ? 'images' : 'labels'})`,
    );
  }
  const headerLen = 4 + 4 * ndim;
  if (buf.length < headerLen) throw new UsageError(`${path}: IDX file is ${buf.length} bytes, shorter than its ${headerLen}-byte header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(dv.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== headerLen + count) {
    throw new UsageError(
      `${path}: IDX file is ${buf.length} bytes but header ${headerLen} + dims [${dims.join('x')}] needs ${headerLen + count}` +
        (buf.length < headerLen + count ? ' (truncated)' : ''),
    );
  }
  return { magic, dims, data: buf.subarray(headerLen) };
}

/**
 * Find an IDX file by its canonical stem (e.g. `train-images-idx3-ubyte`) under dir, accepting the
 * dotted spelling (`train-images.idx3-ubyte`) and an optional .gz.
 */
export function findIdxFile(dir: string, stem: string): string {
  const dotted = stem.replace(/-(idx\d-ubyte)$/, '.$1');
  const tried: string[] = [];
  for (const base of [stem, dotted]) {
    for (const ext of ['', '.gz']) {
      const p = join(dir, base + ext);
      tried.push(base + ext);
      if (existsSync(p)) return p;
    }
  }
  throw new UsageError(`${dir}: no ${stem} file (tried ${tried.join(', ')})`);
}

/** Images + labels as one split, with counts and label range checked. */
export function readIdxSplit(imagesPath: string, labelsPath: string, numClasses: number): Split & { height: number; width: number } {
  const img = readIdx(imagesPath, IDX_IMAGES_MAGIC);
  if (img.dims.length !== 3) throw new UsageError(`${imagesPath}: IDX images must have 3 dims, got [${img.dims.join('x')}]`);
  const lab = readIdx(labelsPath, IDX_LABELS_MAGIC);
  if (lab.dims.length !== 1) throw new UsageError(`${labelsPath}: IDX labels must have 1 dim, got [${lab.dims.join('x')}]`);
  const [n, h, w] = img.dims as [number, number, number];
  if (n === 0) throw new UsageError(`${imagesPath}: holds 0 images; a split needs at least one`);
  if (h === 0 || w === 0) throw new UsageError(`${imagesPath}: images of ${h}x${w} pixels; each side must be at least 1`);
  if (lab.dims[0] !== n) throw new UsageError(`${labelsPath}: ${lab.dims[0]} labels but ${imagesPath} has ${n} images`);
  const labels = lab.data;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= numClasses) {
      throw new UsageError(`${labelsPath}: label ${labels[i]} at index ${i} is not below the ${numClasses} classes`);
    }
  }
  return { images: img.data, labels, n, height: h, width: w };
}

/** The standard four files (train + t10k) of an MNIST-layout folder. */
export function readIdxFolder(dir: string, numClasses: number) {
  const train = readIdxSplit(findIdxFile(dir, 'train-images-idx3-ubyte'), findIdxFile(dir, 'train-labels-idx1-ubyte'), numClasses);
  const test = readIdxSplit(findIdxFile(dir, 't10k-images-idx3-ubyte'), findIdxFile(dir, 't10k-labels-idx1-ubyte'), numClasses);
  if (train.height !== test.height || train.width !== test.width) {
    throw new UsageError(`${dir}: train images are ${train.height}x${train.width} but test images are ${test.height}x${test.width}`);
  }
  return { train, test, height: train.height, width: train.width };
}
