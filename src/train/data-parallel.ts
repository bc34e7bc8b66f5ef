/**
 * The trainer's side of data-parallel training (the collectives are the engine's): which samples of a
 * global batch a rank trains on, which evaluation batches it scores, and the batch-size rule.
 *
 * --batch-size is per rank: W ranks with batch B train on global batches of W x B, exactly the samples
 * (and augmentations) of one process with batch W x B. The run's recorded batch size (config, results,
 * checkpoints) is the global batch, so a checkpoint resumes with any number of ranks: without
 * --batch-size a resumed run keeps its global batch and splits it over the ranks it now has.
 */
import type { EvalBatchLike, EvalSource } from './evaluate.js';
import type { BatchPipeline } from '../data/pipeline.js';

export interface RankOf {
  rank: number;
  world: number;
}

/**
 * The rank's contiguous part [start, end) of a global batch of n samples: n split as evenly as
 * possible, earlier ranks never smaller than later ones by more than one sample (a short last batch
 * may leave a rank without samples: it still joins the gradient sum, with weight 0).
 */
export function shardRange(n: number, r: RankOf): { start: number; end: number } {
  const start = Math.floor((n * r.rank) / r.world);
  const end = Math.floor((n * (r.rank + 1)) / r.world);
  return { start, end };
}

/** Rows [start, end) of an NCHW batch (views, no copies). */
export function sliceBatch<T extends { x: Float32Array; y: Int32Array; n: number }>(
  b: T,
  range: { start: number; end: number },
): { x: Float32Array; y: Int32Array; n: number } {
  const per = b.n > 0 ? b.x.length / b.n : 0;
  return {
    x: b.x.subarray(range.start * per, range.end * per),
    y: b.y.subarray(range.start, range.end),
    n: range.end - range.start,
  };
}

function isPipeline(s: EvalSource): s is BatchPipeline {
  return typeof (s as BatchPipeline).batch === 'function' && typeof (s as BatchPipeline).stepsPerEpoch === 'number';
}

/**
 * The evaluation batches of one rank: batch k goes to rank k mod W (the correct counts are summed over
 * ranks afterwards). An in-memory pipeline assembles only this rank's batches.
 */
export function shardEval(source: EvalSource, r: RankOf): Iterable<EvalBatchLike> | AsyncIterable<EvalBatchLike> {
  if (isPipeline(source)) {
    return (function* () {
      for (let s = r.rank; s < source.stepsPerEpoch; s += r.world) yield source.batch(0, s);
    })();
  }
  return (async function* () {
    let k = 0;
    for await (const b of source as AsyncIterable<EvalBatchLike>) if (k++ % r.world === r.rank) yield b;
  })();
}

/** Plans (or anything) of rank r: every W-th, starting at r. */
export function* everyNth<T>(items: Iterable<T>, r: RankOf): Generator<T> {
  let k = 0;
  for (const it of items) if (k++ % r.world === r.rank) yield it;
}
