/**
 * Seeded batch iterator. The order of epoch e is a permutation drawn from Rng(seed, e) and the
 * augmentation of step s from Rng(seed, e, s), so any (epoch, step) can be rebuilt on its own and a
 * resumed run sees exactly the batches an uninterrupted one would. Pixels stay bytes until a batch
 * is assembled and normalised with one multiply-add per value.
 */
import { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';
import { fillFromMean, randAugment, type RandAugmentConfig } from './randaugment.js';
import type { Dataset, Split } from './types.js';

export interface AugmentOptions {
  /** random crop with zero padding p on every side (torchvision RandomCrop(size, padding=p)); 0 = off */
  padCrop?: number;
  /** random horizontal flip with probability 0.5 */
  flip?: boolean;
}

export type ResizeMode = 'nearest' | 'bilinear';

export interface PipelineOptions {
  batchSize: number;
  seed: number;
  /** shuffle every epoch (default true); false gives the split (or subset) in index order */
  shuffle?: boolean;
  /** drop the last incomplete batch (default false) */
  dropLast?: boolean;
  /** use only N samples: the first N of a seeded permutation, or a class-stratified pick */
  limit?: number;
  limitMode?: 'random' | 'stratified';
  /** seed of the --limit subset (default: seed) */
  limitSeed?: number;
  augment?: AugmentOptions;
  /**
   * timm's RandAugment on each image's bytes after the crop and flip (zero padding included), before
   * normalisation and resizing; the geometric ops fill with the dataset mean (timm's img_mean). Each
   * sample draws from its own seed, taken from Rng(seed, 'aa:epoch:step') in batch order.
   */
  randAugment?: RandAugmentConfig;
  /** per-channel normalisation in [0,1] pixel units; length 1 or the output channel count */
  mean: number[];
  std: number[];
  /** output channels; 3 replicates a grayscale image (default: the dataset's channels) */
  inChans?: number;
  /** resize every image to size x size after augmentation (e.g. 28-px MNIST into a 32-px net) */
  resize?: { size: number; mode: ResizeMode };
}

export interface Batch {
  /** NCHW float32, normalised */
  x: Float32Array;
  y: Int32Array;
  n: number;
  epoch: number;
  step: number;
  /** sample indices into the split */
  indices: Uint32Array;
  shape: [number, number, number, number];
}

export interface ImageGeometry {
  channels: number;
  height: number;
  width: number;
}

/**
 * The sample order of one epoch (indices into the split): the subset (or every sample) in index order
 * without shuffling, else a permutation drawn from Rng(seed, epoch) over it. The same for in-memory and
 * image-file pipelines, so both resume an epoch where they stopped.
 */
export function epochOrder(o: { seed: number; shuffle?: boolean }, epoch: number, size: number, subset: Uint32Array | null): Uint32Array {
  if (o.shuffle === false) return subset ?? Uint32Array.from({ length: size }, (_, i) => i);
  const perm = Rng.derive(o.seed, `epoch:${epoch}`).permutation(size);
  return subset ? perm.map((p) => subset[p]!) : perm;
}

/** Indices of a --limit subset, sorted ascending. */
export function limitSubset(labels: ArrayLike<number>, n: number, limit: number, mode: 'random' | 'stratified', seed: number): Uint32Array {
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`limit ${limit} must be a positive integer`);
  if (limit >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  const rng = Rng.derive(seed, 'limit');
  let picked: Uint32Array;
  if (mode === 'random') {
    picked = rng.permutation(n).slice(0, limit);
  } else {
    // Proportional allocation by largest remainder; each class takes the head of its own seeded order.
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const c = labels[i]!;
      let a = byClass.get(c);
      if (!a) byClass.set(c, (a = []));
      a.push(i);
    }
    const classes = [...byClass.keys()].sort((a, b) => a - b);
    const quota = classes.map((c) => (limit * byClass.get(c)!.length) / n);
    const take = quota.map(Math.floor);
    let rest = limit - take.reduce((a, b) => a + b, 0);
    const order = classes.map((_, k) => k).sort((a, b) => quota[b]! - take[b]! - (quota[a]! - take[a]!) || a - b);
    for (const k of order) {
      if (rest === 0) break;
      take[k]!++;
      rest--;
    }
    const out: number[] = [];
    classes.forEach((c, k) => {
      const members = byClass.get(c)!;
      const perm = rng.permutation(members.length);
      for (let j = 0; j < take[k]!; j++) out.push(members[perm[j]!]!);
    });
    picked = Uint32Array.from(out);
  }
  return picked.sort();
}

/** Source index and weight tables for one axis (PyTorch interpolate, align_corners=false). */
function axisTable(inSize: number, outSize: number, mode: ResizeMode): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(outSize),
    i1 = new Int32Array(outSize),
    w = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    if (mode === 'nearest') {
      i0[d] = i1[d] = Math.min(Math.floor(d * scale), inSize - 1);
    } else {
      const s = Math.max((d + 0.5) * scale - 0.5, 0);
      const a = Math.min(Math.floor(s), inSize - 1);
      i0[d] = a;
      i1[d] = Math.min(a + 1, inSize - 1);
      w[d] = s - a;
    }
  }
  return { i0, i1, w };
}

export class BatchPipeline {
  readonly size: number;
  readonly stepsPerEpoch: number;
  readonly outChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  private readonly subset: Uint32Array | null;
  /** normalised = byte * scale[c] + shift[c] = (byte / 255 - mean) / std */
  private readonly scale: Float64Array;
  private readonly shift: Float64Array;
  private readonly pad: number;
  private readonly flip: boolean;
  private readonly aa?: { config: RandAugmentConfig; fill: number[] };
  private readonly ytab?: ReturnType<typeof axisTable>;
  private readonly xtab?: ReturnType<typeof axisTable>;
  private readonly scratch?: Float32Array;
  private cachedEpoch = -1;
  private cachedOrder: Uint32Array = new Uint32Array(0);

  constructor(
    private readonly split: Split,
    private readonly geom: ImageGeometry,
    private readonly opts: PipelineOptions,
  ) {
    const { channels: C, height: H, width: W } = geom;
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
      throw new UsageError(`batch size ${opts.batchSize} must be a positive integer`);
    if (split.images.length !== split.n * C * H * W)
      throw new Error(`split holds ${split.images.length} bytes, not ${split.n}x${C}x${H}x${W}`);
    const outC = opts.inChans ?? C;
    if (outC !== C && C !== 1)
      throw new UsageError(`in-chans ${outC} does not fit ${C}-channel images (only 1-channel images can be replicated)`);
    for (const [k, v] of [
      ['mean', opts.mean],
      ['std', opts.std],
    ] as const) {
      if (v.length !== 1 && v.length !== outC) throw new UsageError(`${k} has ${v.length} values; give 1 or ${outC}`);
    }
    this.outChannels = outC;
    this.scale = new Float64Array(outC);
    this.shift = new Float64Array(outC);
    for (let c = 0; c < outC; c++) {
      const m = opts.mean[opts.mean.length === 1 ? 0 : c]!;
      const s = opts.std[opts.std.length === 1 ? 0 : c]!;
      if (!(s > 0)) throw new UsageError(`std ${s} must be positive`);
      this.scale[c] = 1 / (255 * s);
      this.shift[c] = -m / s;
    }
    this.pad = opts.augment?.padCrop ?? 0;
    if (!Number.isInteger(this.pad) || this.pad < 0) throw new UsageError(`crop padding ${this.pad} must be a non-negative integer`);
    this.flip = opts.augment?.flip ?? false;
    if (opts.randAugment) this.aa = { config: opts.randAugment, fill: fillFromMean(opts.mean, C) };
    this.subset =
      opts.limit !== undefined
        ? limitSubset(split.labels, split.n, opts.limit, opts.limitMode ?? 'random', opts.limitSeed ?? opts.seed)
        : null;
    this.size = this.subset ? this.subset.length : split.n;
    this.stepsPerEpoch = opts.dropLast ? Math.floor(this.size / opts.batchSize) : Math.ceil(this.size / opts.batchSize);
    if (opts.resize && (opts.resize.size !== H || opts.resize.size !== W)) {
      const s = opts.resize.size;
      if (!Number.isInteger(s) || s < 1) throw new UsageError(`resize ${s} must be a positive integer`);
      this.ytab = axisTable(H, s, opts.resize.mode);
      this.xtab = axisTable(W, s, opts.resize.mode);
      this.scratch = new Float32Array(H * W);
      this.outHeight = this.outWidth = s;
    } else {
      this.outHeight = H;
      this.outWidth = W;
    }
  }

  /** Sample order of an epoch (indices into the split). */
  order(epoch: number): Uint32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedOrder = epochOrder(this.opts, epoch, this.size, this.subset);
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }

  /** Assemble batch `step` of `epoch`; `out` may be a reusable buffer of at least batch size. */
  batch(epoch: number, step: number, out?: Float32Array): Batch {
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`step ${step} outside 0..${this.stepsPerEpoch - 1}`);
    }
    const ord = this.order(epoch);
    const bs = this.opts.batchSize;
    const start = step * bs;
    const n = Math.min(bs, this.size - start);
    const indices = ord.slice(start, start + n);
    const C = this.outChannels,
      OH = this.outHeight,
      OW = this.outWidth;
    const per = C * OH * OW;
    const x = out && out.length >= n * per ? out.subarray(0, n * per) : new Float32Array(n * per);
    const y = new Int32Array(n);
    const augment = this.pad > 0 || this.flip;
    const rng = augment ? Rng.derive(this.opts.seed, `aug:${epoch}:${step}`) : null;
    const aaRng = this.aa ? Rng.derive(this.opts.seed, `aa:${epoch}:${step}`) : null;
    for (let i = 0; i < n; i++) {
      const idx = indices[i]!;
      y[i] = this.split.labels[idx]!;
      let dx = 0,
        dy = 0,
        flip = false;
      if (rng) {
        if (this.pad > 0) {
          dy = rng.int(-this.pad, this.pad);
          dx = rng.int(-this.pad, this.pad);
        }
        if (this.flip) flip = rng.next() < 0.5;
      }
      if (aaRng) this.writeAugmented(idx, x, i * per, dx, dy, flip, aaRng.nextU32());
      else this.writeImage(this.split.images, idx * this.geom.channels * this.geom.height * this.geom.width, x, i * per, dx, dy, flip);
    }
    return { x, y, n, epoch, step, indices, shape: [n, C, OH, OW] };
  }

  /** Batches of one epoch, from startStep on. */
  *epoch(epoch: number, startStep = 0): Generator<Batch> {
    for (let s = startStep; s < this.stepsPerEpoch; s++) yield this.batch(epoch, s);
  }

  /** Batches from (epoch, step) to the end of epoch endEpoch - 1 (for resuming training). */
  *from(epoch: number, step: number, endEpoch: number): Generator<Batch> {
    for (let e = epoch; e < endEpoch; e++) yield* this.epoch(e, e === epoch ? step : 0);
  }

  /** The crop and flip as bytes (the padding is the byte 0), RandAugment, then normalised like any image. */
  private writeAugmented(idx: number, dst: Float32Array, off: number, dx: number, dy: number, flip: boolean, sampleSeed: number): void {
    const { channels: C, height: H, width: W } = this.geom;
    const src = this.split.images;
    const bytes = new Uint8Array(C * H * W);
    for (let c = 0; c < C; c++) {
      const s = idx * C * H * W + c * H * W;
      for (let y = 0; y < H; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= H) continue;
        for (let x = 0; x < W; x++) {
          const sx = (flip ? W - 1 - x : x) + dx;
          if (sx >= 0 && sx < W) bytes[c * H * W + y * W + x] = src[s + sy * W + sx]!;
        }
      }
    }
    const out = randAugment({ data: bytes, channels: C, height: H, width: W }, this.aa!.config, sampleSeed, this.aa!.fill);
    this.writeImage(out.data, 0, dst, off, 0, 0, false);
  }

  private writeImage(src: Uint8Array, base: number, dst: Float32Array, off: number, dx: number, dy: number, flip: boolean): void {
    const { channels: C, height: H, width: W } = this.geom;
    const plane = H * W;
    const shifted = dx !== 0 || dy !== 0 || flip;
    const OP = this.outHeight * this.outWidth;
    for (let c = 0; c < this.outChannels; c++) {
      const a = this.scale[c]!,
        b = this.shift[c]!;
      const sOff = base + (C === 1 ? 0 : c) * plane;
      // Without a resize the image goes straight into the batch; with one, into a scratch plane first.
      const tgt = this.scratch ?? dst;
      const tOff = this.scratch ? 0 : off + c * OP;
      if (!shifted) {
        // Native byte->float copy, then one affine pass: the fastest path V8 offers here.
        tgt.set(src.subarray(sOff, sOff + plane), tOff);
        for (let j = tOff, e = tOff + plane; j < e; j++) tgt[j] = tgt[j]! * a + b;
      } else {
        // Zero padding is the byte 0, normalised like any other pixel (torchvision pads before Normalize).
        // Columns whose source lies inside the image: x + dx in [0, W) (before the flip).
        const x0 = Math.max(0, -dx),
          x1 = Math.min(W, W - dx);
        for (let yy = 0; yy < H; yy++) {
          const sy = yy + dy;
          const row = tOff + yy * W;
          if (sy < 0 || sy >= H) {
            tgt.fill(b, row, row + W);
            continue;
          }
          const srow = sOff + sy * W + dx;
          if (!flip) {
            if (x0 > 0) tgt.fill(b, row, row + x0);
            for (let xx = x0; xx < x1; xx++) tgt[row + xx] = src[srow + xx]! * a + b;
            if (x1 < W) tgt.fill(b, row + x1, row + W);
          } else {
            // Output column W-1-xx takes the cropped column xx.
            const last = row + W - 1;
            if (x0 > 0) tgt.fill(b, last - x0 + 1, last + 1);
            for (let xx = x0; xx < x1; xx++) tgt[last - xx] = src[srow + xx]! * a + b;
            if (x1 < W) tgt.fill(b, row, last - x1 + 1);
          }
        }
      }
      if (this.scratch) this.resizePlane(this.scratch, dst, off + c * OP);
    }
  }

  private resizePlane(s: Float32Array, dst: Float32Array, off: number): void {
    const W = this.geom.width;
    const yt = this.ytab!,
      xt = this.xtab!;
    const OW = this.outWidth;
    for (let oy = 0; oy < this.outHeight; oy++) {
      const r0 = yt.i0[oy]! * W,
        r1 = yt.i1[oy]! * W,
        wy = yt.w[oy]!;
      const row = off + oy * OW;
      for (let ox = 0; ox < OW; ox++) {
        const c0 = xt.i0[ox]!,
          c1 = xt.i1[ox]!,
          wx = xt.w[ox]!;
        const top = s[r0 + c0]! + (s[r0 + c1]! - s[r0 + c0]!) * wx;
        const bot = s[r1 + c0]! + (s[r1 + c1]! - s[r1 + c0]!) * wx;
        dst[row + ox] = top + (bot - top) * wy;
      }
    }
  }
}

/** A pipeline over one split of a dataset, normalised with the dataset's mean/std unless given. */
export function datasetPipeline(
  ds: Dataset,
  which: 'train' | 'test',
  opts: Omit<PipelineOptions, 'mean' | 'std'> & Partial<Pick<PipelineOptions, 'mean' | 'std'>>,
): BatchPipeline {
  return new BatchPipeline(
    ds[which],
    { channels: ds.channels, height: ds.height, width: ds.width },
    {
      ...opts,
      mean: opts.mean ?? ds.mean,
      std: opts.std ?? ds.std,
    },
  );
}

/** Augmentation a recipe turns on: crop+flip for natural images, nothing for digits (a flipped 2 is not a 2). */
export function defaultAugment(datasetName: string, height: number): AugmentOptions {
  if (datasetName === 'mnist') return {};
  // image files: the flip, and (src/train/run.ts) timm's random-resized crop instead of a padded crop
  if (datasetName === 'imagenet') return { flip: true };
  if (datasetName === 'fashion-mnist') return { padCrop: 2, flip: true };
  return { padCrop: Math.max(1, Math.round(height / 8)), flip: true };
}
