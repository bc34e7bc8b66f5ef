/**
 * Top-1 / top-5 accuracy of a compiled network over a stream of batches (a test-split pipeline or any
 * iterable, e.g. the streamed image-folder batches of timm-style evaluation, src/train/eval-folder.ts),
 * with progress. Every evaluation in regnet (after training, `regnet eval --checkpoint`, `regnet eval
 * --weights` on an image folder) counts through here.
 *
 * The one rule for an empty split: refuse it with a UsageError naming the folder, before anything is
 * compiled. listImageFolder refuses a folder without images; the eval sources (eval-folder.ts for an
 * image folder and its --limit, eval-checkpoint.ts for a dataset's test split) call requireSamples. A
 * stream that still yields nothing (an abort before the first batch) reports NaN, never 0.
 */
import type { BatchPipeline } from '../data/pipeline.js';
import type { CompiledNet } from '../engine/types.js';
import { UsageError } from '../util/errors.js';
import { Progress, type ProgressMode } from './progress.js';

export interface EvalBatchLike {
  /** NCHW float32, normalised */
  x: Float32Array;
  y: ArrayLike<number>;
  n: number;
}

export interface EvaluateOptions {
  /** samples in the whole stream (for the progress bar and ETA) */
  total?: number;
  progress?: ProgressMode;
  label?: string;
  /** stop early (the result covers the batches seen) */
  signal?: AbortSignal;
  /** called after each batch with the samples seen so far and the running top-1 (percent) */
  onBatch?: (done: number, top1: number) => void;
}

export interface EvalResult {
  /** percent */
  top1: number;
  top5: number;
  n: number;
  /** samples whose label ranks first / within the top 5 */
  correct1: number;
  correct5: number;
  /** mean cross-entropy of the logits (no smoothing) */
  loss: number;
  seconds: number;
}

export type EvalSource = BatchPipeline | Iterable<EvalBatchLike> | AsyncIterable<EvalBatchLike>;

/** The one rule for an empty split: refuse it, naming where it came from (`where`: the folder). */
export function requireSamples(n: number, where: string): void {
  if (!(n >= 1)) throw new UsageError(`${where}: empty split, nothing to evaluate`);
}

function isPipeline(s: EvalSource): s is BatchPipeline {
  return typeof (s as BatchPipeline).batch === 'function' && typeof (s as BatchPipeline).stepsPerEpoch === 'number';
}

/**
 * Rank of the label among the logits of one sample: how many classes come before it when sorting by
 * logit descending, ties broken by class index (as arg-max picks the first maximum). A NaN anywhere in
 * the comparison counts against the label, so a broken network never scores.
 */
export function labelRank(logits: Float32Array, off: number, classes: number, label: number): number {
  const l = logits[off + label]!;
  let rank = 0;
  for (let j = 0; j < classes; j++) {
    if (j === label) continue;
    const v = logits[off + j]!;
    if (v > l || (v === l && j < label) || Number.isNaN(v) || Number.isNaN(l)) rank++;
  }
  return rank;
}

/** Cross-entropy of one row (log-sum-exp, stable). */
function rowLoss(logits: Float32Array, off: number, classes: number, label: number): number {
  let m = -Infinity;
  for (let j = 0; j < classes; j++) m = Math.max(m, logits[off + j]!);
  let s = 0;
  for (let j = 0; j < classes; j++) s += Math.exp(logits[off + j]! - m);
  return Math.log(s) + m - logits[off + label]!;
}

export async function evaluate(compiled: CompiledNet, source: EvalSource, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const classes = compiled.net.numClasses;
  const k5 = Math.min(5, classes);
  let n = 0,
    c1 = 0,
    c5 = 0,
    lossSum = 0;
  const total = opts.total ?? (isPipeline(source) ? source.size : undefined);
  const bar = new Progress(opts.progress ?? 'none', opts.label ?? 'eval', total ?? 0, 'img');
  const t0 = performance.now();
  const iter: Iterable<EvalBatchLike> | AsyncIterable<EvalBatchLike> = isPipeline(source) ? source.epoch(0) : source;
  for await (const b of iter) {
    if (opts.signal?.aborted) break;
    const logits = compiled.predict(b.x, b.n);
    for (let i = 0; i < b.n; i++) {
      const label = b.y[i]!;
      const r = labelRank(logits, i * classes, classes, label);
      if (r === 0) c1++;
      if (r < k5) c5++;
      lossSum += rowLoss(logits, i * classes, classes, label);
    }
    n += b.n;
    bar.update(n, { acc: (100 * c1) / n });
    opts.onBatch?.(n, (100 * c1) / n);
    // let signal handlers and progress timers run between batches
    await new Promise((r) => setImmediate(r));
  }
  bar.stop();
  const seconds = (performance.now() - t0) / 1000;
  return {
    top1: n ? (100 * c1) / n : NaN,
    top5: n ? (100 * c5) / n : NaN,
    n,
    correct1: c1,
    correct5: c5,
    loss: n ? lossSum / n : NaN,
    seconds,
  };
}
