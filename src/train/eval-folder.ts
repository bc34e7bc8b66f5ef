/**
 * timm-style evaluation on an ImageNet-style class-folder split (what `regnet eval --weights FILE
 * --data-dir VAL_DIR` runs): the folder's images, preprocessed as timm's eval transform does, are one
 * more EvalSource for evaluate(); a checkpoint's top-1/top-5 over them can be merged into
 * results-<name>.csv in timm's format.
 */
import { basename, join } from 'node:path';
import { complexity } from '../arch/complexity.js';
import { numel, paramSpecs } from '../arch/params.js';
import type { ModelSpec } from '../arch/spec.js';
import { folderEvalBatches, listImageFolder, type EvalBatch, type EvalPreprocessOptions, type Interpolation } from '../data/folder.js';
import { inferenceThroughput } from '../bench/bench.js';
import { compileOn, type EngineSelection } from '../engine/select.js';
import type { CompiledNet } from '../engine/types.js';
import { mergeResults } from '../results/timm.js';
import { makeDir } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { netForCheckpoint, type NetForCheckpointOptions } from './checkpoint-net.js';
import { evaluate, requireSamples } from './evaluate.js';
import type { ProgressMode } from './progress.js';

export interface ImageFolderSource {
  /** normalised batches in listing order; the next one decodes while the engine runs the current one */
  batches: AsyncIterable<EvalBatch>;
  /** images the batches cover */
  total: number;
  /** class folder names; class index = position */
  classes: string[];
}

/**
 * Read one batch ahead of the consumer: sharp decodes on libuv threads, so the next batch is decoded
 * while the (synchronous) forward pass of this one runs.
 */
async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let pending = it.next();
  try {
    for (;;) {
      const r = await pending;
      if (r.done) return;
      pending = it.next();
      yield r.value;
    }
  } finally {
    // the consumer stopped early: a failure of the batch read ahead is no longer anyone's concern
    pending.catch(() => undefined);
    await it.return?.();
  }
}

/**
 * An image folder as an evaluation source: timm's eval transform (resize the shorter side to
 * floor(imgSize / cropPct), centre crop, normalise) on the first `limit` images of the sorted listing.
 * An empty split is refused here, naming the folder.
 */
export function imageFolderSource(
  dir: string,
  batchSize: number,
  opts: EvalPreprocessOptions & { limit?: number; concurrency?: number },
): ImageFolderSource {
  const listing = listImageFolder(dir);
  const total = Math.min(listing.files.length, opts.limit ?? Infinity);
  requireSamples(total, dir);
  return { batches: readAhead(folderEvalBatches(dir, batchSize, opts)), total, classes: listing.classes };
}

export interface ImageFolderEvalOptions {
  /** a compiled network whose input resolution is imgSize x imgSize */
  model: CompiledNet;
  dataDir: string;
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  mean: number[];
  std: number[];
  batch: number;
  /** evaluate only the first N images of the listing */
  limit?: number;
  /** progress bar / lines on stderr (default none) */
  progress?: ProgressMode;
  /** label of the progress bar (default `eval <model>`) */
  label?: string;
  /** called after each batch */
  onProgress?: (done: number, total: number, top1: number) => void;
}

export interface ImageFolderEvalResult {
  n: number;
  correct1: number;
  correct5: number;
  /** percent */
  top1: number;
  top5: number;
  classes: string[];
  seconds: number;
}

/** Streamed, batched eval over a class-folder split (class index = sorted folder position). */
export async function evalImageFolder(o: ImageFolderEvalOptions): Promise<ImageFolderEvalResult> {
  const net = o.model.net;
  if (net.res[0] !== o.imgSize || net.res[1] !== o.imgSize) {
    throw new UsageError(`eval: the network is built for ${net.res[0]}x${net.res[1]} but --img-size is ${o.imgSize}`);
  }
  if (net.inChans !== 3) throw new UsageError(`eval: image folders are RGB; the network takes ${net.inChans} channels`);
  const src = imageFolderSource(o.dataDir, o.batch, {
    imgSize: o.imgSize, cropPct: o.cropPct, interpolation: o.interpolation, mean: o.mean, std: o.std, limit: o.limit,
  });
  const k = net.numClasses;
  if (src.classes.length > k) {
    throw new UsageError(`${o.dataDir}: ${src.classes.length} class folders but the model has ${k} outputs (use --num-classes or a matching checkpoint)`);
  }
  const onProgress = o.onProgress;
  const ev = await evaluate(o.model, src.batches, {
    total: src.total,
    progress: o.progress ?? 'none',
    label: o.label ?? `eval ${net.name}`,
    onBatch: onProgress && ((done, top1) => onProgress(done, src.total, top1)),
  });
  return { n: ev.n, correct1: ev.correct1, correct5: ev.correct5, top1: ev.top1, top5: ev.top5, classes: src.classes, seconds: ev.seconds };
}

export interface WeightsFolderEvalOptions extends NetForCheckpointOptions, EngineSelection {
  /** the model the checkpoint is for */
  model: { name: string; spec: ModelSpec };
  /** timm state_dict (safetensors) */
  weights: string;
  dataDir: string;
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  mean: number[];
  std: number[];
  batch: number;
  /** the first N images only; the results CSV is then left alone */
  limit?: number;
  /** merge the row into <resultsDir>/results-<resultsName>.csv (full splits only) */
  results?: { dir: string; name: string };
  progress?: ProgressMode;
  /** measure inference throughput after evaluation for the results row (default true) */
  bench?: boolean;
}

export interface WeightsEvalReport extends ImageFolderEvalResult {
  model: string;
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  params: number;
  engine: string;
  /** inference samples/s measured after evaluation (absent with bench off) */
  inferSamplesPerSec?: number;
  resultsFile?: string;
}

/** Evaluate a checkpoint on a class-folder split with timm's eval preprocessing; progress goes to stderr. */
export async function evaluateWeightsOnFolder(o: WeightsFolderEvalOptions): Promise<WeightsEvalReport> {
  // fail on a bad folder or an empty split before compiling anything
  requireSamples(Math.min(listImageFolder(o.dataDir).files.length, o.limit ?? Infinity), o.dataDir);
  const { net, weights } = netForCheckpoint(o.model, o.weights, { chans: 3, h: o.imgSize, w: o.imgSize }, o);
  const { engine, model: compiled } = await compileOn(o, net, weights);
  let r: ImageFolderEvalResult;
  let infer: { samplesPerSec: number; batch: number } | undefined;
  try {
    r = await evalImageFolder({
      model: compiled, dataDir: o.dataDir, imgSize: o.imgSize, cropPct: o.cropPct, interpolation: o.interpolation,
      mean: o.mean, std: o.std, batch: o.batch, limit: o.limit, progress: o.progress ?? 'auto',
    });
    if (o.bench !== false && o.results && o.limit === undefined) infer = await inferenceThroughput(compiled, o.batch);
  } finally {
    compiled.dispose();
    engine.close?.();
  }
  const params = paramSpecs(net).filter((s) => s.trainable).reduce((a, s) => a + numel(s.shape), 0);
  const report: WeightsEvalReport = {
    ...r, model: net.name, imgSize: o.imgSize, cropPct: o.cropPct, interpolation: o.interpolation, params, engine: engine.info.engine,
    ...(infer ? { inferSamplesPerSec: infer.samplesPerSec } : {}),
  };
  if (o.results && o.limit === undefined) {
    makeDir(o.results.dir);
    report.resultsFile = join(o.results.dir, `results-${o.results.name}.csv`);
    const cx = complexity(net);
    mergeResults(report.resultsFile, [
      {
        model: net.name, img_size: o.imgSize, top1: r.top1, top5: r.top5, params, crop_pct: o.cropPct, interpolation: o.interpolation,
        flops: cx.flops, acts: cx.acts,
        ...(infer ? { infer_samples_per_sec: infer.samplesPerSec, infer_batch_size: infer.batch } : {}),
        engine: engine.info.engine, device: engine.info.device, threads: engine.info.threads, stem: net.stem, in_chans: net.inChans,
        // not trained here: the weights file stands where a recipe would
        recipe: `weights=${basename(o.weights)}`, arch: JSON.stringify(o.model.spec),
      },
    ]);
  }
  return report;
}
