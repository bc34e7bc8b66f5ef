/**
 * trainModel: one TrainRequest in, one TrainResult out. SGD (momentum, nesterov, decay only where
 * ParamSpec.decay says) or AdamW with a per-step linear warm-up + half-cosine schedule; optional
 * mixup/cutmix soft targets, drop-path, gradient accumulation and a weight EMA (evaluated beside the raw
 * weights); checkpoints each epoch, exact resume (also extending a finished run to more epochs),
 * divergence detection, top-1/top-5 on the test split, result files.
 */
import { join } from 'node:path';
import { initWeights } from '../arch/init.js';
import type { Network } from '../arch/ir.js';
import { buildFromSpec } from '../arch/zoo.js';
import { complexity } from '../arch/complexity.js';
import { FilePipeline } from '../data/file-pipeline.js';
import { ImageLoader, loadBatches, type LoadedBatch } from '../data/loader.js';
import { datasetPipeline, type BatchPipeline } from '../data/pipeline.js';
import { resolveDataset, resolveFileDataset } from '../data/resolve.js';
import { fillFromMean, parseRandAugment } from '../data/randaugment.js';
import { timmTrainTransform, type ImageTransform } from '../data/transforms.js';
import {
  DATASET_NAMES,
  FILE_DATASET_NAMES,
  isFileDataset,
  type Dataset,
  type DatasetName,
  type FileDataset,
  type FileSplit,
} from '../data/types.js';
import { engineOptionsOf, selectEngine } from '../engine/select.js';
import {
  ADAMW_DEFAULTS,
  type Collectives,
  type CompiledNet,
  type Engine,
  type EngineName,
  numerics,
  type OptimizerOptions,
  type StepResult,
} from '../engine/types.js';
import type { WeightMap } from '../arch/weights.js';
import { Rng } from '../util/rng.js';
import { WeightEma } from './ema.js';
import { mixBatch, mixupActive } from './mixup.js';
import { inferenceThroughput } from '../bench/bench.js';
import { resultsTarget, type EvalScope } from '../results/subset.js';
import { mergeResults } from '../results/timm.js';
import { asSetupError, UsageError } from '../util/errors.js';
import { median } from '../util/median.js';
import { checkBatchTensor } from '../util/limits.js';
import { hasCheckpoint, readCheckpointState, readCheckpointTensors, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { resolveConfig, savedRequest, stepBatch, type TrainConfig } from './config.js';
import { shardEval, shardRange, sliceBatch, everyNth, type RankOf } from './data-parallel.js';
import { evaluate, type EvalBatchLike, type EvalResult, type EvalSource } from './evaluate.js';
import { Progress } from './progress.js';
import { emaRecipeLabel, recipeLabel, trainedResultRow } from './results-row.js';
import { appendRun } from './runs.js';
import { lrAt } from './schedule.js';
import type { TrainRequest, TrainResult, TrainStatus } from './types.js';

/** The dataset read last: models trained one after another (train with several models, sweeps) share it. */
let lastDataset: { key: string; dataset: Promise<Dataset | FileDataset> } | undefined;

/** A dataset by name: in memory, or (imagenet) listed and read from files as batches are needed. */
export async function loadDataset(name: string, dir?: string, imgSize?: number, classMap?: string): Promise<Dataset | FileDataset> {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`--dataset: '${name}' is not one of ${DATASET_NAMES.join(', ')}`);
  }
  const fromFiles = FILE_DATASET_NAMES.includes(name as DatasetName);
  if (!fromFiles && classMap !== undefined)
    throw new UsageError(`--class-map applies to image-file datasets (${FILE_DATASET_NAMES.join(', ')}), not ${name}`);
  const key = JSON.stringify([name, dir ?? null, imgSize ?? null, classMap ?? null]);
  if (lastDataset?.key !== key) {
    const dataset: Promise<Dataset | FileDataset> = fromFiles
      ? Promise.resolve().then(() => resolveFileDataset(name as DatasetName, dir, { imgSize, classMap }))
      : resolveDataset(name as DatasetName, dir, { imgSize });
    lastDataset = { key, dataset };
    // a failed read is not kept
    dataset.catch(() => {
      if (lastDataset?.dataset === dataset) lastDataset = undefined;
    });
  }
  return lastDataset.dataset;
}

export function buildTrainNet(req: Pick<TrainRequest, 'model'>, cfg: TrainConfig): Network {
  try {
    return buildFromSpec(
      req.model.spec,
      { res: cfg.res, numClasses: cfg.numClasses, inChans: cfg.inChans, stem: cfg.stem },
      req.model.name,
    );
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot build ${req.model.name}: ${(e as Error).message}`);
  }
}

function resizeOf(cfg: TrainConfig) {
  return cfg.interpolation === 'none' ? undefined : { size: cfg.res, mode: cfg.interpolation };
}

export function trainPipeline(ds: Dataset, cfg: TrainConfig, seed: number): BatchPipeline {
  return datasetPipeline(ds, 'train', {
    // one batch per optimiser step: its gradAccumSteps micro-batches
    batchSize: stepBatch(cfg),
    seed,
    limit: cfg.limitTrain,
    limitMode: 'stratified',
    augment: cfg.augment,
    randAugment: cfg.aa ? parseRandAugment(cfg.aa, 'aa') : undefined,
    inChans: cfg.inChans,
    resize: resizeOf(cfg),
  });
}

/** The test split in a fixed order; a --limit-val subset is the same for every seed (comparable runs). */
export function evalPipeline(
  ds: Dataset,
  cfg: Pick<TrainConfig, 'evalBatchSize' | 'limitVal' | 'inChans' | 'interpolation' | 'res'>,
): BatchPipeline {
  return datasetPipeline(ds, 'test', {
    batchSize: cfg.evalBatchSize,
    seed: 0,
    shuffle: false,
    limit: cfg.limitVal,
    limitMode: 'stratified',
    limitSeed: 0,
    inChans: cfg.inChans,
    resize: cfg.interpolation === 'none' ? undefined : { size: cfg.res, mode: cfg.interpolation },
  });
}

/** Eval transform of image-file datasets: timm's default for RegNets (crop_pct 0.875, bicubic), PIL-exact. */
export const FILE_EVAL_GEOMETRY = { crop_pct: 0.875, interpolation: 'bicubic' } as const;

/**
 * Training transform of image-file datasets: with augmentation timm's default train transform
 * (RandomResizedCrop 0.08-1, 3/4-4/3, bilinear; flip p = 0.5 unless the recipe turns flips off), without
 * it a bilinear resize of the shorter side and centre crop; then RandAugment when the run has `aa`
 * (timm's img_mean fill, bilinear resampling as the crop's).
 */
export function fileTrainTransform(ds: FileDataset, cfg: Pick<TrainConfig, 'augment' | 'res' | 'aa'>): ImageTransform {
  const augment = cfg.augment.flip || cfg.augment.padCrop > 0;
  const randAugment = cfg.aa ? { config: parseRandAugment(cfg.aa, 'aa'), fill: fillFromMean(ds.mean, 3) } : undefined;
  const t: ImageTransform = augment
    ? { ...timmTrainTransform(cfg.res, ds.mean, ds.std), hflip: cfg.augment.flip ? 0.5 : 0 }
    : { kind: 'eval', imgSize: cfg.res, cropPct: 1, interpolation: 'bilinear', mean: ds.mean, std: ds.std };
  return randAugment ? { ...t, randAugment } : t;
}

export function trainSplitOf(ds: FileDataset): FileSplit {
  if (!ds.train) throw new UsageError(`${ds.source}: no train/ folder (${ds.name}: DIR/train/<wnid>/ and DIR/val/<wnid>/)`);
  return ds.train;
}

/** The test split of an image-file dataset in a fixed order, --limit-val as a fixed stratified subset. */
export function fileEvalPipeline(ds: FileDataset, cfg: Pick<TrainConfig, 'evalBatchSize' | 'limitVal'>): FilePipeline {
  return new FilePipeline(ds.test, {
    batchSize: cfg.evalBatchSize,
    seed: 0,
    shuffle: false,
    limit: cfg.limitVal,
    limitMode: 'stratified',
    limitSeed: 0,
  });
}

/**
 * The test split as an evaluation source, and its size: the in-memory pipeline, or for image files the
 * parallel loader (a given one, or one of its own closed at the end of the stream).
 */
export function testSource(
  ds: Dataset | FileDataset,
  cfg: Pick<TrainConfig, 'evalBatchSize' | 'limitVal' | 'inChans' | 'interpolation' | 'res'>,
  loader?: ImageLoader,
  shard?: RankOf,
): { source: EvalSource; size: number } {
  if (!isFileDataset(ds)) {
    const pipe = evalPipeline(ds, cfg);
    return { source: shard ? shardEval(pipe, shard) : pipe, size: pipe.size };
  }
  const pipe = fileEvalPipeline(ds, cfg);
  const transform: ImageTransform = {
    kind: 'eval',
    imgSize: cfg.res,
    cropPct: FILE_EVAL_GEOMETRY.crop_pct,
    interpolation: FILE_EVAL_GEOMETRY.interpolation,
    mean: ds.mean,
    std: ds.std,
  };
  const opts = { transform, maxBatch: cfg.evalBatchSize };
  const plans = shard ? everyNth(pipe.from(0, 0, 1), shard) : pipe.from(0, 0, 1);
  const stream = loader ? loader.stream(plans, opts) : loadBatches(plans, opts);
  return { source: stream as AsyncIterable<EvalBatchLike>, size: pipe.size };
}

/** What a results row covers (results/subset.ts picks the file from it). */
export function evalScope(ds: Dataset | FileDataset, cfg: Pick<TrainConfig, 'limitTrain'>, evaluated: number): EvalScope {
  if (!isFileDataset(ds)) return { evaluated, testSize: ds.test.n };
  const present = Math.min(ds.test.classesPresent, ds.train?.classesPresent ?? Infinity);
  const cut = cfg.limitTrain !== undefined && ds.train !== undefined && cfg.limitTrain < ds.train.n;
  return {
    evaluated,
    testSize: ds.test.n,
    classesPresent: present,
    numClasses: ds.numClasses,
    limitTrain: cut ? cfg.limitTrain : undefined,
  };
}

/**
 * crop_pct / interpolation of the evaluated images, as timm records them: in-memory datasets are used
 * whole (1.0; 'none' unless resized to --res); image folders are decoded with a 0.875 bilinear centre
 * crop; image-file datasets (imagenet) with timm's eval transform, FILE_EVAL_GEOMETRY.
 */
export function resultGeometry(
  ds: Pick<Dataset, 'name'>,
  cfg: Pick<TrainConfig, 'interpolation'>,
): { crop_pct: number; interpolation: string } {
  if (FILE_DATASET_NAMES.includes(ds.name as DatasetName)) return { ...FILE_EVAL_GEOMETRY };
  if (ds.name === 'folder') return { crop_pct: 0.875, interpolation: 'bilinear' };
  return { crop_pct: 1, interpolation: cfg.interpolation };
}

const CONFIG_KEYS_THAT_MUST_MATCH: Array<keyof TrainConfig> = [
  'epochs',
  'totalSteps',
  'stepsPerEpoch',
  'batchSize',
  'lr',
  'momentum',
  'nesterov',
  'weightDecay',
  'warmupSteps',
  'labelSmoothing',
  'opt',
  'ema',
  'emaDecay',
  'mixup',
  'cutmix',
  'mixupProb',
  'mixupSwitchProb',
  'dropPath',
  'gradAccumSteps',
  'res',
  'stem',
  'inChans',
  'numClasses',
  'interpolation',
  'limitTrain',
  'trainSize',
  'aa',
];

/**
 * A finished run asked for more steps (--resume with a larger --epochs or --steps): it continues from its
 * checkpoint with the schedule re-planned over the new length (warm-up + cosine over all its steps).
 */
function isExtension(state: CheckpointState, cfg: TrainConfig): boolean {
  return state.status === 'finished' && cfg.totalSteps > state.globalStep;
}

function checkResumable(state: CheckpointState, req: TrainRequest, cfg: TrainConfig, dir: string): void {
  const diff: string[] = [];
  const lengthMayChange = isExtension(state, cfg);
  if (JSON.stringify(state.request.model.spec) !== JSON.stringify(req.model.spec)) diff.push('model');
  if (state.request.dataset !== req.dataset) diff.push('dataset');
  if (state.request.classMap !== req.classMap) diff.push('class-map');
  if (state.seed !== req.seed) diff.push('seed');
  for (const k of CONFIG_KEYS_THAT_MUST_MATCH) {
    if (lengthMayChange && (k === 'epochs' || k === 'totalSteps')) continue;
    if (JSON.stringify(state.config[k]) !== JSON.stringify(cfg[k])) diff.push(k);
  }
  if (JSON.stringify(state.config.augment) !== JSON.stringify(cfg.augment)) diff.push('augment');
  if (diff.length) {
    throw new UsageError(
      `--resume: ${dir} was trained with different ${diff.join(', ')}; resume without changing those flags, or use a new --checkpoint folder`,
    );
  }
}

function say(req: TrainRequest, line: string): void {
  if ((req.progress ?? 'auto') !== 'none') process.stderr.write(line + '\n');
}

/**
 * A step that depends on the environment and the configuration, not on the model: its user errors are
 * SetupErrors (a sweep stops on them instead of recording a failed model).
 */
async function setup<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asSetupError(e);
  }
}

export async function trainModel(request: TrainRequest): Promise<TrainResult> {
  let req = request;
  if (req.resume && !req.checkpointDir) throw new UsageError('--resume needs --checkpoint DIR');
  const dist = req.distributed && req.distributed.world > 1 ? req.distributed : undefined;
  // ranks other than 0 train and evaluate but write nothing and show no progress
  if (dist && dist.rank !== 0) req = { ...req, resultsDir: undefined, progress: 'none', bench: false };
  const ds = await setup(() => loadDataset(req.dataset, req.dataDir, req.overrides?.res, req.classMap));
  const trainN = await setup(() => (isFileDataset(ds) ? trainSplitOf(ds).n : ds.train.n));
  const sizeOf = (limit: number | undefined) => (limit === undefined ? trainN : Math.min(limit, trainN));
  let cfg = await setup(() => resolveConfig(req, ds, sizeOf));
  let state: CheckpointState | undefined;
  if (req.resume && hasCheckpoint(req.checkpointDir!)) state = readCheckpointState(req.checkpointDir!);
  if (dist && req.overrides?.batchSize === undefined) {
    // the recorded batch is the global one: the recipe's per-rank batch times the ranks, or a resumed run's own
    const globalBatch = state ? state.config.batchSize : cfg.batchSize * dist.world;
    req = { ...req, overrides: { ...req.overrides, batchSize: globalBatch } };
    cfg = await setup(() => resolveConfig(req, ds, sizeOf));
  }
  checkBatchTensor(stepBatch(cfg), cfg.inChans, cfg.res, cfg.res, { batch: '--batch-size', res: '--res' });
  // a rank's part of a global batch is one micro-batch; accumulation across ranks is not planned yet
  if (dist && cfg.gradAccumSteps > 1)
    throw new UsageError(
      `--grad-accum-steps: must be 1 with data-parallel ranks (${dist.world} here); use a larger --batch-size or more ranks`,
    );
  const short = cfg.trainSize % cfg.batchSize;
  if (dist && req.syncBn && short > 0 && short < dist.world)
    throw new UsageError(
      `--sync-bn: the last batch of each epoch has ${short} sample(s), fewer than the ${dist.world} ranks (every rank needs one); change --batch-size or --limit-train`,
    );
  if (state) checkResumable(state, req, cfg, req.checkpointDir!);
  const net = buildTrainNet(req, cfg);
  // BatchNorm with per-rank statistics is not one process's computation: the results row says so
  if (dist && !req.syncBn && net.nodes.some((nd) => nd.op === 'bn')) cfg = { ...cfg, bnRanks: dist.world };
  const cx = complexity(net);
  if (state && isAlreadyFinished(state, cfg)) return savedResult(req, state, cfg, cx);
  const engine: Engine = await setup(() =>
    selectEngine(req.engine, {
      ...engineOptionsOf({ threads: req.threads, device: req.device, amp: req.amp, channelsLast: req.channelsLast }),
      distributed: dist,
      syncBatchNorm: req.syncBn,
    }),
  );
  const info = engine.info;
  if (dist && !engine.collectives) {
    engine.close?.();
    throw new UsageError(`data-parallel training (${dist.world} ranks) needs --engine torch, not ${info.engine}`);
  }
  const num = numerics(info);
  const numText = `${num.precision !== 'fp32' ? `, amp ${num.precision}` : ''}${num.layout === 'nhwc' ? ', channels-last' : ''}`;
  say(req, `engine: ${info.engine} (${info.version}, ${info.threads} thread${info.threads === 1 ? '' : 's'}, ${info.device}${numText})`);
  if (dist)
    say(
      req,
      `data-parallel: ${dist.world} ranks (${dist.source}), global batch ${cfg.batchSize} (${(cfg.batchSize / dist.world).toFixed(Number.isInteger(cfg.batchSize / dist.world) ? 0 : 1)} per rank)`,
    );
  let compiled: CompiledNet | undefined;
  // image files are decoded on worker threads, ahead of the training steps (one pool for train and test)
  const loader = isFileDataset(ds) ? new ImageLoader() : undefined;
  try {
    let ema: WeightEma | undefined;
    let extendedFrom: number[] | undefined;
    if (state) {
      const t = readCheckpointTensors(req.checkpointDir!, state);
      compiled = engine.compile(net, t.weights);
      if (t.optimizer && t.optimizer.size) compiled.setOptimizerState(t.optimizer);
      if (cfg.ema) ema = new WeightEma(cfg.emaDecay, stateDictOf(t.ema!, compiled.getWeights()));
      extendedFrom = isExtension(state, cfg) ? [...(state.extendedFrom ?? []), state.config.epochs] : state.extendedFrom;
      say(
        req,
        isExtension(state, cfg)
          ? `extending finished ${req.checkpointDir} from ${state.config.epochs} to ${cfg.epochs} epochs (step ${state.globalStep}/${cfg.totalSteps}; schedule re-planned over ${cfg.totalSteps} steps)`
          : `resuming ${req.checkpointDir} at epoch ${state.epoch + 1}, step ${state.step} (global step ${state.globalStep}/${cfg.totalSteps})`,
      );
    } else {
      compiled = engine.compile(net, initWeights(net, req.seed));
      if (cfg.ema) ema = new WeightEma(cfg.emaDecay, compiled.getWeights());
    }
    return await runLoop({
      request: req,
      dataset: ds,
      config: cfg,
      netComplexity: cx,
      engine,
      compiled,
      resumed: state,
      loader,
      collectives: engine.collectives,
      ema,
      extendedFrom,
    });
  } finally {
    await loader?.close();
    compiled?.dispose();
    engine.close?.();
  }
}

/**
 * A finished checkpoint evaluated on the same test images as now asked: resuming it changes nothing, so
 * nothing is trained, evaluated or written (another --limit-val evaluates again).
 */
function isAlreadyFinished(
  state: CheckpointState,
  cfg: TrainConfig,
): state is CheckpointState & { result: NonNullable<CheckpointState['result']> } {
  return (
    state.status === 'finished' &&
    state.result !== undefined &&
    state.globalStep >= cfg.totalSteps &&
    state.config.limitVal === cfg.limitVal
  );
}

function savedResult(
  req: TrainRequest,
  state: CheckpointState & { result: NonNullable<CheckpointState['result']> },
  cfg: TrainConfig,
  cx: ReturnType<typeof complexity>,
): TrainResult {
  return {
    status: 'ok',
    model: req.model.name,
    dataset: req.dataset,
    engine: state.engine as EngineName,
    epochs: cfg.epochs,
    steps: state.globalStep,
    trainSeconds: state.trainSeconds,
    imagesPerSec: median(state.stepRates),
    finalLoss: state.lastLoss ?? NaN,
    params: cx.params,
    flops: cx.flops,
    acts: cx.acts,
    imgSize: cfg.res,
    top1: state.result.top1,
    top5: state.result.top5,
    alreadyFinished: true,
  };
}

/** The entries of a saved state dict that the network has (a timm file also holds num_batches_tracked). */
function stateDictOf(saved: WeightMap, like: WeightMap): WeightMap {
  const out: WeightMap = new Map();
  for (const k of like.keys()) {
    const t = saved.get(k);
    if (!t) throw new UsageError(`checkpoint EMA weights: '${k}' is missing`);
    out.set(k, t);
  }
  return out;
}

interface LoopOptions {
  request: TrainRequest;
  dataset: Dataset | FileDataset;
  config: TrainConfig;
  /** params, flops and acts of the network, for the result */
  netComplexity: ReturnType<typeof complexity>;
  engine: Engine;
  compiled: CompiledNet;
  /** the checkpoint training resumes from */
  resumed?: CheckpointState;
  /** the image loader of a FileDataset */
  loader?: ImageLoader;
  /** data-parallel: the ranks this one trains with (rank 0 alone writes checkpoints and results) */
  collectives?: Collectives;
  /** the weight EMA (--ema) */
  ema?: WeightEma;
  /** epochs of the finished runs this one extends */
  extendedFrom?: number[];
}

interface TrainBatch {
  x: Float32Array;
  y: Int32Array;
  /** this rank's samples */
  n: number;
  /** the samples of the global batch (all ranks); n when not data-parallel */
  globalN: number;
}

/** Whether this process writes checkpoints and results (rank 0, or the only process). */
function writes(options: LoopOptions): boolean {
  return (options.collectives?.rank ?? 0) === 0;
}

/** Training batches from (epoch, step) to the end of the run, and the number of samples per epoch. */
interface TrainBatches {
  size: number;
  batches: AsyncIterator<TrainBatch>;
}

/** In memory: one reused batch buffer. Image files: the loader, `prefetch` batches ahead of the steps. */
function trainBatches(options: LoopOptions, epoch: number, step: number): TrainBatches {
  const { dataset: ds, config, request } = options;
  if (isFileDataset(ds)) {
    const transform = fileTrainTransform(ds, config);
    const pipe = new FilePipeline(trainSplitOf(ds), {
      batchSize: stepBatch(config),
      seed: request.seed,
      limit: config.limitTrain,
      limitMode: 'stratified',
      sampleSeeds: transform.kind === 'train' || transform.randAugment !== undefined,
    });
    const dp = options.collectives;
    // data-parallel: each rank decodes only its part of every global batch (per-sample seeds keep the augmentation)
    const plans = dp
      ? (function* () {
          for (const p of pipe.from(epoch, step, config.epochs)) {
            const { start, end } = shardRange(p.files.length, dp);
            yield {
              ...p,
              files: p.files.slice(start, end),
              labels: p.labels.slice(start, end),
              seeds: p.seeds?.slice(start, end),
              indices: p.indices.slice(start, end),
              globalN: p.files.length,
            };
          }
        })()
      : pipe.from(epoch, step, config.epochs);
    const stream = options.loader!.stream(plans, { transform, maxBatch: stepBatch(config) });
    async function* files(): AsyncGenerator<TrainBatch> {
      for await (const b of stream as AsyncGenerator<LoadedBatch<{ files: string[]; labels: Int32Array; globalN?: number }>>)
        yield { x: b.x, y: b.y, n: b.n, globalN: b.plan.globalN ?? b.n };
    }
    return { size: pipe.size, batches: files() };
  }
  const pipeline = trainPipeline(ds, config, request.seed);
  const buffer = new Float32Array(stepBatch(config) * pipeline.outChannels * pipeline.outHeight * pipeline.outWidth);
  async function* gen(): AsyncGenerator<TrainBatch> {
    for (let e = epoch; e < config.epochs; e++) {
      for (let s = e === epoch ? step : 0; s < pipeline.stepsPerEpoch; s++) {
        const b = pipeline.batch(e, s, buffer);
        // data-parallel: the global batch is assembled (so augmentation is that of one process) and sliced
        if (options.collectives) yield { ...sliceBatch(b, shardRange(b.n, options.collectives)), globalN: b.n };
        else yield { x: b.x, y: b.y, n: b.n, globalN: b.n };
      }
    }
  }
  return { size: pipeline.size, batches: gen() };
}

/** Where training stands: what checkpoints record and the result reports. */
interface LoopState {
  globalStep: number;
  trainSeconds: number;
  /** images per second of every step */
  stepRates: number[];
  lastLoss: number;
  status: TrainStatus;
  /** the global step whose loss was not finite */
  divergedAt: number;
  /** data-parallel: some rank was asked to stop (agreed on at the last step) */
  stopAgreed: boolean;
}

async function runLoop(options: LoopOptions): Promise<TrainResult> {
  const { request, config, resumed } = options;
  const loop: LoopState = {
    globalStep: resumed?.globalStep ?? 0,
    trainSeconds: resumed?.trainSeconds ?? 0,
    stepRates: resumed ? [...resumed.stepRates] : [],
    lastLoss: resumed?.lastLoss ?? NaN,
    status: 'ok',
    divergedAt: -1,
    stopAgreed: false,
  };
  const source = trainBatches(options, Math.floor(loop.globalStep / config.stepsPerEpoch), loop.globalStep % config.stepsPerEpoch);
  try {
    while (loop.globalStep < config.totalSteps && loop.status === 'ok') {
      await trainEpoch(options, source, loop);
      if (loop.status === 'ok' && request.checkpointDir && writes(options) && loop.globalStep < config.totalSteps) {
        saveCheckpoint(request.checkpointDir, options.compiled, snapshot(options, loop, 'running'), options.ema?.weights);
      }
    }
  } finally {
    // stop reading ahead (the loader cancels the batches in flight)
    await source.batches.return?.();
  }
  if (loop.status === 'interrupted') return finishInterrupted(options, loop);
  if (loop.status === 'diverged') return finishDiverged(options, loop);
  return finishTrained(options, loop);
}

function snapshot(
  options: LoopOptions,
  loop: LoopState,
  status: CheckpointState['status'],
  result?: CheckpointState['result'],
): CheckpointState {
  const { request, config } = options;
  const epoch = Math.floor(loop.globalStep / config.stepsPerEpoch);
  const step = loop.globalStep % config.stepsPerEpoch;
  return {
    version: 1,
    status,
    globalStep: loop.globalStep,
    epoch,
    step,
    seed: request.seed,
    rng: { kind: 'derived', seed: request.seed, epoch, step },
    request: savedRequest(request),
    config,
    engine: options.engine.info.engine,
    trainSeconds: loop.trainSeconds,
    stepRates: loop.stepRates,
    lastLoss: Number.isFinite(loop.lastLoss) ? loop.lastLoss : null,
    ...(result ? { result } : {}),
    savedAt: new Date().toISOString(),
    ...(options.extendedFrom?.length ? { extendedFrom: options.extendedFrom } : {}),
  };
}

function stopRequested(request: TrainRequest, globalStep: number): boolean {
  return request.signal?.aborted === true || (request.stopAtStep !== undefined && globalStep >= request.stopAtStep);
}

/**
 * The rest of the current epoch, one SGD step at a time with a progress bar. Stops early, setting
 * loop.status, when asked to stop ('interrupted') or on a non-finite loss ('diverged').
 */
async function trainEpoch(options: LoopOptions, source: TrainBatches, loop: LoopState): Promise<void> {
  const { request, config } = options;
  const epoch = Math.floor(loop.globalStep / config.stepsPerEpoch);
  const firstStep = loop.globalStep % config.stepsPerEpoch;
  const steps = Math.min(config.stepsPerEpoch, config.totalSteps - epoch * config.stepsPerEpoch);
  const batchImages = stepBatch(config);
  const epochImages = Math.min(source.size, steps * batchImages);
  const bar = new Progress(
    request.progress ?? 'auto',
    `epoch ${epoch + 1}/${config.epochs}`,
    epochImages,
    'img',
    Math.min(epochImages, firstStep * batchImages),
  );
  let seen = 0,
    correct = 0,
    lossSum = 0,
    stepsDone = 0;
  const dp = options.collectives;
  for (let step = firstStep; step < steps; step++) {
    // data-parallel: every rank stops at the same step (a signal seen by any rank is agreed on each step)
    const stop = dp
      ? loop.stopAgreed || (request.stopAtStep !== undefined && loop.globalStep >= request.stopAtStep)
      : stopRequested(request, loop.globalStep);
    if (stop) {
      loop.status = 'interrupted';
      break;
    }
    const startedAt = performance.now();
    const next = await source.batches.next();
    if (next.done) throw new Error(`training batches ended at epoch ${epoch}, step ${step}`);
    const batch = next.value;
    const lr = lrAt(loop.globalStep, config.totalSteps, config.warmupSteps, config.lr);
    const result = optimiserStep(options, batch, loop.globalStep, lr);
    if (dp) {
      // the global batch's mean loss and correct count, and whether any rank was asked to stop
      const sums = dp.allreduceSum([result.loss * batch.n, result.correct, request.signal?.aborted ? 1 : 0]);
      result.loss = sums[0]! / batch.globalN;
      result.correct = sums[1]!;
      loop.stopAgreed = sums[2]! > 0;
    }
    options.ema?.update(options.compiled.getWeights());
    const seconds = (performance.now() - startedAt) / 1000;
    loop.globalStep++;
    loop.lastLoss = result.loss;
    if (!Number.isFinite(result.loss)) {
      loop.status = 'diverged';
      loop.divergedAt = loop.globalStep;
      break;
    }
    loop.trainSeconds += seconds;
    loop.stepRates.push(Math.round((batch.globalN / seconds) * 10) / 10);
    seen += batch.globalN;
    correct += result.correct;
    lossSum += result.loss;
    stepsDone++;
    bar.update(Math.min(epochImages, step * batchImages + batch.globalN), { loss: lossSum / stepsDone, acc: (100 * correct) / seen });
    // give SIGINT handlers and timers a turn between steps
    await new Promise((resolve) => setImmediate(resolve));
  }
  bar.stop();
}

function optimizerOptions(config: TrainConfig, lr: number): OptimizerOptions {
  if (config.opt === 'adamw')
    return { optimizer: 'adamw', lr, weightDecay: config.weightDecay, ...ADAMW_DEFAULTS, labelSmoothing: config.labelSmoothing };
  return {
    lr,
    momentum: config.momentum,
    nesterov: config.nesterov,
    weightDecay: config.weightDecay,
    labelSmoothing: config.labelSmoothing,
  };
}

/**
 * One optimiser step on one step batch: its micro-batches of batchSize (gradAccumSteps of them; the last
 * may be smaller), each mixed (mixup/cutmix) and run with its own drop-path masks, gradients weighted by
 * their share of the batch and accumulated, then one update. The random draws are keyed by (seed,
 * global step, micro-batch), so a resumed run draws the same.
 */
function optimiserStep(options: LoopOptions, batch: TrainBatch, globalStep: number, lr: number): StepResult {
  const { config, request, compiled } = options;
  // data-parallel: this rank's share of the global batch weights its gradients in the sum over ranks
  const opt: OptimizerOptions = { ...optimizerOptions(config, lr), ...(options.collectives ? { gradScale: batch.n / batch.globalN } : {}) };
  const mixing = mixupActive(config);
  if (config.gradAccumSteps === 1 && !mixing && config.dropPath === 0) return compiled.trainStep(batch.x, batch.y, batch.n, opt);
  const size = batch.x.length / batch.n;
  const shape = { c: config.inChans, h: config.res, w: config.res };
  let loss = 0;
  let correct = 0;
  for (let j = 0, start = 0; start < batch.n; j++, start += config.batchSize) {
    const m = Math.min(config.batchSize, batch.n - start);
    const x = batch.x.subarray(start * size, (start + m) * size);
    const y = batch.y.subarray(start, start + m);
    const key = `${globalStep}:${j}`;
    const target = mixing ? mixBatch(x, y, { n: m, ...shape }, config, Rng.derive(request.seed, `mix:${key}`)).target : y;
    const dropPath =
      config.dropPath > 0 ? { rate: config.dropPath, seed: Rng.derive(request.seed, `drop-path:${key}`).nextU32() } : undefined;
    const r = compiled.accumulateGrads(x, target, m, {
      labelSmoothing: config.labelSmoothing,
      dropPath,
      lossScale: m / batch.n,
      gradScale: opt.gradScale,
    });
    loss += (r.loss * m) / batch.n;
    correct += r.correct;
  }
  compiled.applyUpdate(opt);
  return { loss, correct };
}

/** The result fields every outcome shares. */
function resultBase(options: LoopOptions, loop: LoopState) {
  const { request, config, netComplexity } = options;
  return {
    model: request.model.name,
    dataset: request.dataset,
    engine: options.engine.info.engine,
    epochs: config.epochs,
    steps: loop.globalStep,
    trainSeconds: loop.trainSeconds,
    imagesPerSec: median(loop.stepRates),
    finalLoss: loop.lastLoss,
    params: netComplexity.params,
    flops: netComplexity.flops,
    acts: netComplexity.acts,
    imgSize: config.res,
  };
}

/** Stopped early: save a checkpoint to resume from, when there is a checkpoint folder. */
function finishInterrupted(options: LoopOptions, loop: LoopState): TrainResult {
  const { request, config } = options;
  if (request.checkpointDir && writes(options)) {
    saveCheckpoint(request.checkpointDir, options.compiled, snapshot(options, loop, 'interrupted'), options.ema?.weights);
    say(
      request,
      `interrupted at global step ${loop.globalStep}/${config.totalSteps}; checkpoint written to ${request.checkpointDir} (continue with --resume)`,
    );
  } else {
    say(request, `interrupted at global step ${loop.globalStep}/${config.totalSteps} (no --checkpoint: nothing saved)`);
  }
  return { status: 'interrupted', ...resultBase(options, loop), top1: NaN, top5: NaN };
}

function finishDiverged(options: LoopOptions, loop: LoopState): TrainResult {
  const { request, config } = options;
  say(request, `diverged: loss ${loop.lastLoss} at step ${loop.divergedAt}; stopping (the last epoch checkpoint, if any, is kept)`);
  const result: TrainResult = { status: 'diverged', ...resultBase(options, loop), top1: NaN, top5: NaN };
  if (request.resultsDir) appendRun(join(request.resultsDir, 'runs.csv'), runRow(request, config, result));
  return result;
}

/**
 * Trained to the end: evaluate on the test split, measure inference throughput (unless bench is off),
 * save the final checkpoint, record the results.
 */
async function finishTrained(options: LoopOptions, loop: LoopState): Promise<TrainResult> {
  const { request, config, dataset, compiled } = options;
  const dp = options.collectives;
  // data-parallel: rank 0's BN statistics everywhere, each rank scores every W-th test batch, counts summed
  compiled.syncBuffers?.();
  const test = testSource(dataset, config, options.loader, dp);
  // (rank 0's progress counts its own share of the test batches)
  const total = dp ? Math.ceil(test.size / dp.world) : test.size;
  const local = await evaluate(compiled, test.source, { progress: request.progress ?? 'auto', label: 'test', total });
  const evaluation = dp ? sumEvaluations(local, dp) : local;
  say(request, `test: top1 ${evaluation.top1.toFixed(2)}%  top5 ${evaluation.top5.toFixed(2)}%  (${evaluation.n} images)`);
  // the EMA weights evaluated on the same images, then the raw weights back (checkpoint, throughput)
  let emaEvaluation: Awaited<ReturnType<typeof evaluate>> | undefined;
  if (options.ema) {
    const raw = compiled.getWeights();
    compiled.setWeights(options.ema.weights);
    try {
      const emaTest = testSource(dataset, config, options.loader);
      emaEvaluation = await evaluate(compiled, emaTest.source, {
        progress: request.progress ?? 'auto',
        label: 'test (ema)',
        total: emaTest.size,
      });
    } finally {
      compiled.setWeights(raw);
    }
    say(request, `test (ema): top1 ${emaEvaluation.top1.toFixed(2)}%  top5 ${emaEvaluation.top5.toFixed(2)}%  (${emaEvaluation.n} images)`);
  }
  const infer = (request.bench ?? Boolean(request.resultsDir)) ? await inferenceThroughput(compiled, config.evalBatchSize) : undefined;
  if (infer) say(request, `inference: ${infer.samplesPerSec.toFixed(1)} samples/s at batch ${infer.batch}`);
  const info = options.engine.info;
  const recipe = recipeLabel(request, dataset, config, options.extendedFrom);
  const result: TrainResult = {
    status: 'ok',
    ...resultBase(options, loop),
    top1: evaluation.top1,
    top5: evaluation.top5,
    batchSize: config.batchSize,
    inferSamplesPerSec: infer?.samplesPerSec ?? NaN,
    inferBatchSize: infer?.batch,
    device: info.device,
    threads: info.threads,
    precision: numerics(info).precision,
    stem: config.stem,
    inChans: config.inChans,
    recipe,
    seed: request.seed,
    ...(emaEvaluation ? { emaTop1: emaEvaluation.top1, emaTop5: emaEvaluation.top5 } : {}),
  };
  if (request.checkpointDir && writes(options)) {
    saveCheckpoint(
      request.checkpointDir,
      compiled,
      snapshot(options, loop, 'finished', { top1: evaluation.top1, top5: evaluation.top5, n: evaluation.n }),
      options.ema?.weights,
    );
  }
  if (request.resultsDir) {
    const target = resultsTarget(request.dataset, evalScope(dataset, config, evaluation.n));
    result.resultsFile = join(request.resultsDir, target.file);
    const row = (ev: { top1: number; top5: number; n: number }, label: string) => ({
      ...trainedResultRow({
        model: request.model,
        cfg: config,
        recipe: label,
        seed: request.seed,
        top1: ev.top1,
        top5: ev.top5,
        params: options.netComplexity.params,
        flops: options.netComplexity.flops,
        acts: options.netComplexity.acts,
        trainSamplesPerSec: result.imagesPerSec,
        infer,
        engine: info,
        precision: numerics(info).precision,
        geometry: resultGeometry(dataset, config),
      }),
      ...(target.subset ? { n_images: ev.n } : {}),
    });
    // with --ema the EMA weights get their own row: the recipe label ends in weights=ema
    mergeResults(result.resultsFile, [row(evaluation, recipe), ...(emaEvaluation ? [row(emaEvaluation, emaRecipeLabel(recipe))] : [])]);
    // a finished run evaluated again (on other test images) is no new training run
    if (options.resumed?.status !== 'finished' || options.extendedFrom !== options.resumed.extendedFrom)
      appendRun(join(request.resultsDir, 'runs.csv'), runRow(request, config, result));
  }
  return result;
}

/** Evaluations of the ranks' shares of the test split, as one evaluation of the whole split. */
function sumEvaluations(local: EvalResult, dp: Collectives): EvalResult {
  const [n, c1, c5, lossSum, seconds] = dp.allreduceSum([
    local.n,
    local.correct1,
    local.correct5,
    local.n ? local.loss * local.n : 0,
    local.seconds,
  ]) as unknown as number[];
  return {
    n: n!,
    correct1: c1!,
    correct5: c5!,
    top1: n ? (100 * c1!) / n : NaN,
    top5: n ? (100 * c5!) / n : NaN,
    loss: n ? lossSum! / n : NaN,
    seconds: seconds! / dp.world,
  };
}

function runRow(req: TrainRequest, cfg: TrainConfig, r: TrainResult) {
  return {
    model: r.model,
    spec: JSON.stringify(req.model.spec),
    dataset: r.dataset,
    engine: r.engine,
    recipe: cfg.recipe,
    epochs: cfg.epochs,
    steps: r.steps,
    batch_size: cfg.batchSize,
    lr: cfg.lr,
    img_size: cfg.res,
    in_chans: cfg.inChans,
    stem: cfg.stem,
    seed: req.seed,
    train_seconds: r.trainSeconds,
    images_per_sec: r.imagesPerSec,
    params: r.params,
    flops: r.flops,
    acts: r.acts,
    final_loss: r.finalLoss,
    top1: r.top1,
    top5: r.top5,
    status: r.status,
    finished_at: new Date().toISOString(),
  };
}
