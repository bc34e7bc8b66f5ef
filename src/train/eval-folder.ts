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
import {
  classFolders,
  IMAGENET_MEAN,
  IMAGENET_STD,
  listImageFolder,
  type EvalPreprocessOptions,
  type Interpolation,
} from '../data/folder.js';
import { labelSetForFolders, readClassMap, type LabelSet } from '../data/labels.js';
import { loadBatches, sequentialPlans, type LoaderOptions } from '../data/loader.js';
import { inferenceThroughput } from '../bench/bench.js';
import { compileOn, type EngineSelection } from '../engine/select.js';
import { numerics, type CompiledNet } from '../engine/types.js';
import { resultsTarget } from '../results/subset.js';
import { mergeResults } from '../results/timm.js';
import { makeDir } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { netForCheckpoint, type NetForCheckpointOptions } from './checkpoint-net.js';
import { evaluate, requireSamples, type EvalBatchLike } from './evaluate.js';
import type { ProgressMode } from './progress.js';

export interface ImageFolderSource {
  /** normalised batches in listing order, decoded on worker threads ahead of the engine (src/data/loader.ts) */
  batches: AsyncIterable<EvalBatchLike>;
  /** images the batches cover */
  total: number;
  /** class folder names present (sorted) */
  classes: string[];
}

/**
 * An image folder as an evaluation source: timm's eval transform (resize the shorter side to
 * floor(imgSize / cropPct), centre crop, normalise; PIL-exact) on the first `limit` images of the sorted
 * listing, through the parallel loader. Labels: the folder's index in `labels` (labels.ts), or its sorted
 * position. An empty split is refused here, naming the folder.
 */
export function imageFolderSource(
  dir: string,
  batchSize: number,
  opts: EvalPreprocessOptions & LoaderOptions & { limit?: number; labels?: LabelSet },
): ImageFolderSource {
  const listing = listImageFolder(dir, opts.labels);
  const total = Math.min(listing.files.length, opts.limit ?? Infinity);
  requireSamples(total, dir);
  const transform = {
    kind: 'eval' as const,
    imgSize: opts.imgSize,
    cropPct: opts.cropPct ?? 0.875,
    interpolation: opts.interpolation ?? 'bicubic',
    mean: opts.mean ?? IMAGENET_MEAN,
    std: opts.std ?? IMAGENET_STD,
  };
  const plans = sequentialPlans(listing.files.slice(0, total), listing.labels, batchSize);
  const batches = loadBatches(plans, { transform, maxBatch: batchSize, workers: opts.workers, lanes: opts.lanes });
  return { batches, total, classes: listing.classes };
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
  /** timm class map (one class name per line, index = line number); default: labelSetForFolders */
  classMap?: string;
  /** loader worker threads (default: the number of cores; 0 = this thread) */
  workers?: number;
}

export interface ImageFolderEvalResult {
  n: number;
  correct1: number;
  correct5: number;
  /** percent */
  top1: number;
  top5: number;
  classes: string[];
  /** where the class indices came from (labels.ts) */
  labels: string;
  seconds: number;
}

/**
 * Streamed, batched eval over a class-folder split. Class index: the folder's line in --class-map; its
 * index among ImageNet's 1000 wnids when the model has 1000 outputs and every folder is a wnid; else its
 * sorted position (labels.ts, labelSetForFolders).
 */
export async function evalImageFolder(o: ImageFolderEvalOptions): Promise<ImageFolderEvalResult> {
  const net = o.model.net;
  if (net.res[0] !== o.imgSize || net.res[1] !== o.imgSize) {
    throw new UsageError(`eval: the network is built for ${net.res[0]}x${net.res[1]} but --img-size is ${o.imgSize}`);
  }
  if (net.inChans !== 3) throw new UsageError(`eval: image folders are RGB; the network takes ${net.inChans} channels`);
  const k = net.numClasses;
  const labels = labelSetForFolders(classFolders(o.dataDir), o.dataDir, k, o.classMap);
  if (labels.classes.length > k) {
    const what = o.classMap
      ? `--class-map ${o.classMap} names ${labels.classes.length} classes`
      : `${o.dataDir}: ${labels.classes.length} class folders`;
    throw new UsageError(`${what} but the model has ${k} outputs (use --num-classes or a matching checkpoint)`);
  }
  const src = imageFolderSource(o.dataDir, o.batch, {
    imgSize: o.imgSize,
    cropPct: o.cropPct,
    interpolation: o.interpolation,
    mean: o.mean,
    std: o.std,
    limit: o.limit,
    labels,
    workers: o.workers,
  });
  const onProgress = o.onProgress;
  const ev = await evaluate(o.model, src.batches, {
    total: src.total,
    progress: o.progress ?? 'none',
    label: o.label ?? `eval ${net.name}`,
    onBatch: onProgress && ((done, top1) => onProgress(done, src.total, top1)),
  });
  return {
    n: ev.n,
    correct1: ev.correct1,
    correct5: ev.correct5,
    top1: ev.top1,
    top5: ev.top5,
    classes: src.classes,
    labels: labels.source,
    seconds: ev.seconds,
  };
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
  /**
   * merge the row into <resultsDir>/results-<resultsName>.csv; a folder holding fewer classes than the
   * model scores goes to results-<resultsName>-subset-<k>c.csv (results/subset.ts)
   */
  results?: { dir: string; name: string };
  progress?: ProgressMode;
  /** measure inference throughput after evaluation for the results row (default true) */
  bench?: boolean;
  /** timm class map (one class name per line) */
  classMap?: string;
  workers?: number;
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
  if (o.classMap) listImageFolder(o.dataDir, readClassMap(o.classMap)); // a folder outside the map: refused now
  const { net, weights } = netForCheckpoint(o.model, o.weights, { chans: 3, h: o.imgSize, w: o.imgSize }, o);
  const { engine, model: compiled } = await compileOn(o, net, weights);
  let r: ImageFolderEvalResult;
  let infer: { samplesPerSec: number; batch: number } | undefined;
  try {
    r = await evalImageFolder({
      model: compiled,
      dataDir: o.dataDir,
      imgSize: o.imgSize,
      cropPct: o.cropPct,
      interpolation: o.interpolation,
      mean: o.mean,
      std: o.std,
      batch: o.batch,
      limit: o.limit,
      progress: o.progress ?? 'auto',
      classMap: o.classMap,
      workers: o.workers,
    });
    if (o.bench !== false && o.results && o.limit === undefined) infer = await inferenceThroughput(compiled, o.batch);
  } finally {
    compiled.dispose();
    engine.close?.();
  }
  const params = paramSpecs(net)
    .filter((s) => s.trainable)
    .reduce((a, s) => a + numel(s.shape), 0);
  const report: WeightsEvalReport = {
    ...r,
    model: net.name,
    imgSize: o.imgSize,
    cropPct: o.cropPct,
    interpolation: o.interpolation,
    params,
    engine: engine.info.engine,
    ...(infer ? { inferSamplesPerSec: infer.samplesPerSec } : {}),
  };
  if (o.results && o.limit === undefined) {
    makeDir(o.results.dir);
    const target = resultsTarget(o.results.name, {
      evaluated: r.n,
      testSize: r.n,
      classesPresent: r.classes.length,
      numClasses: net.numClasses,
    });
    report.resultsFile = join(o.results.dir, target.file);
    const cx = complexity(net);
    mergeResults(report.resultsFile, [
      {
        model: net.name,
        img_size: o.imgSize,
        top1: r.top1,
        top5: r.top5,
        params,
        crop_pct: o.cropPct,
        interpolation: o.interpolation,
        flops: cx.flops,
        acts: cx.acts,
        ...(infer ? { infer_samples_per_sec: infer.samplesPerSec, infer_batch_size: infer.batch } : {}),
        engine: engine.info.engine,
        device: engine.info.device,
        threads: engine.info.threads,
        precision: numerics(engine.info).precision,
        stem: net.stem,
        in_chans: net.inChans,
        // not trained here: the weights file stands where a recipe would
        recipe: `weights=${basename(o.weights)}`,
        arch: JSON.stringify(o.model.spec),
        ...(target.subset ? { n_images: r.n } : {}),
      },
    ]);
  }
  return report;
}
