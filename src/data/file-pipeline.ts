/**
 * Batch plans over a split of image files (a FileDataset): which files make up batch `step` of `epoch`,
 * their labels and, for a random transform, one seed per sample. The same rules as the in-memory
 * BatchPipeline (pipeline.ts): epoch order = a permutation drawn from Rng(seed, epoch), a --limit subset
 * from limitSubset, augmentation from Rng(seed, epoch, step), so any (epoch, step) is rebuilt on its own
 * and a resumed run sees the batches an uninterrupted one would. The loader (loader.ts) turns plans into
 * pixels.
 */
import { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';
import type { BatchPlan } from './loader.js';
import { epochOrder, limitSubset } from './pipeline.js';
import type { FileSplit } from './types.js';

export interface FilePlanOptions {
  batchSize: number;
  seed: number;
  /** shuffle every epoch (default true); false gives the split (or subset) in index order */
  shuffle?: boolean;
  limit?: number;
  limitMode?: 'random' | 'stratified';
  limitSeed?: number;
  /** draw a seed per sample (for a random transform) */
  sampleSeeds?: boolean;
}

export interface FileBatchPlan extends BatchPlan {
  epoch: number;
  step: number;
  /** sample indices into the split */
  indices: Uint32Array;
}

export class FilePipeline {
  readonly size: number;
  readonly stepsPerEpoch: number;
  private readonly subset: Uint32Array | null;
  private cachedEpoch = -1;
  private cachedOrder: Uint32Array = new Uint32Array(0);

  constructor(
    private readonly split: FileSplit,
    private readonly opts: FilePlanOptions,
  ) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
      throw new UsageError(`batch size ${opts.batchSize} must be a positive integer`);
    this.subset =
      opts.limit !== undefined
        ? limitSubset(split.labels, split.n, opts.limit, opts.limitMode ?? 'random', opts.limitSeed ?? opts.seed)
        : null;
    this.size = this.subset ? this.subset.length : split.n;
    this.stepsPerEpoch = Math.ceil(this.size / opts.batchSize);
  }

  /** Sample order of an epoch (indices into the split). */
  order(epoch: number): Uint32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedOrder = epochOrder(this.opts, epoch, this.size, this.subset);
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }

  plan(epoch: number, step: number): FileBatchPlan {
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch)
      throw new RangeError(`step ${step} outside 0..${this.stepsPerEpoch - 1}`);
    const bs = this.opts.batchSize;
    const indices = this.order(epoch).slice(step * bs, Math.min(this.size, (step + 1) * bs));
    const files = Array.from(indices, (i) => this.split.files[i]!);
    const labels = Int32Array.from(indices, (i) => this.split.labels[i]!);
    let seeds: Uint32Array | undefined;
    if (this.opts.sampleSeeds) {
      const rng = Rng.derive(this.opts.seed, `aug:${epoch}:${step}`);
      seeds = Uint32Array.from(indices, () => rng.nextU32());
    }
    return { files, labels, seeds, epoch, step, indices };
  }

  /** Plans from (epoch, step) to the end of epoch endEpoch - 1. */
  *from(epoch: number, step: number, endEpoch: number): Generator<FileBatchPlan> {
    for (let e = epoch; e < endEpoch; e++) for (let s = e === epoch ? step : 0; s < this.stepsPerEpoch; s++) yield this.plan(e, s);
  }
}
