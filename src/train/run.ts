/**
 * trainModel: one TrainRequest in, one TrainResult out. SGD (momentum, nesterov, decay only where
 * ParamSpec.decay says) with a per-step linear warm-up + half-cosine schedule, checkpoints each epoch,
 * exact resume, divergence detection, top-1/top-5 on the test split, result files.
 */
import { join } from 'node:path';
import { initWeights } from '../arch/init.js';
import type { Network } from '../arch/ir.js';
import { buildFromSpec } from '../arch/zoo.js';
import { complexity } from '../complexity.js';
import { datasetPipeline, type BatchPipeline } from '../data/pipeline.js';
import { resolveDataset } from '../data/resolve.js';
import { DATASET_NAMES, type Dataset, type DatasetName } from '../data/types.js';
import { selectEngine } from '../engine/select.js';
import type { CompiledNet, Engine } from '../engine/types.js';
import { mergeResults } from '../results/timm.js';
import { UsageError } from '../util/errors.js';
import { hasCheckpoint, readCheckpointState, readCheckpointTensors, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { resolveConfig, savedRequest, type TrainConfig } from './config.js';
import { evaluate } from './evaluate.js';
import { Progress } from './progress.js';
import { appendRun } from './runs.js';
import { lrAt } from './schedule.js';
import type { TrainRequest, TrainResult, TrainStatus } from './types.js';

export async function loadDataset(name: string, dir?: string, imgSize?: number): Promise<Dataset> {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`--dataset: '${name}' is not one of ${DATASET_NAMES.join(', ')}`);
  }
  return resolveDataset(name as DatasetName, dir, { imgSize });
}

export function buildTrainNet(req: Pick<TrainRequest, 'model'>, cfg: TrainConfig): Network {
  try {
    return buildFromSpec(req.model.spec, { res: cfg.res, numClasses: cfg.numClasses, inChans: cfg.inChans, stem: cfg.stem }, req.model.name);
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
    batchSize: cfg.batchSize, seed, limit: cfg.limitTrain, limitMode: 'stratified',
    augment: cfg.augment, inChans: cfg.inChans, resize: resizeOf(cfg),
  });
}

/** The test split in a fixed order; a --limit-val subset is the same for every seed (comparable runs). */
export function evalPipeline(ds: Dataset, cfg: Pick<TrainConfig, 'evalBatchSize' | 'limitVal' | 'inChans' | 'interpolation' | 'res'>): BatchPipeline {
  return datasetPipeline(ds, 'test', {
    batchSize: cfg.evalBatchSize, seed: 0, shuffle: false, limit: cfg.limitVal, limitMode: 'stratified', limitSeed: 0,
    inChans: cfg.inChans, resize: cfg.interpolation === 'none' ? undefined : { size: cfg.res, mode: cfg.interpolation },
  });
}

/** results-<dataset>.csv for a full test split; results-<dataset>-val<N>.csv for a --limit-val subset. */
export function resultsFileName(dataset: string, evaluated: number, testSize: number): string {
  return evaluated < testSize ? `results-${dataset}-val${evaluated}.csv` : `results-${dataset}.csv`;
}

/**
 * crop_pct / interpolation of the evaluated images, as timm records them: in-memory datasets are used
 * whole (1.0; 'none' unless resized to --res); image folders are decoded with a 0.875 bilinear centre crop.
 */
export function resultGeometry(ds: Pick<Dataset, 'name'>, cfg: Pick<TrainConfig, 'interpolation'>): { crop_pct: number; interpolation: string } {
  if (ds.name === 'folder') return { crop_pct: 0.875, interpolation: 'bilinear' };
  return { crop_pct: 1, interpolation: cfg.interpolation };
}

const CONFIG_KEYS_THAT_MUST_MATCH: Array<keyof TrainConfig> = [
  'epochs', 'totalSteps', 'stepsPerEpoch', 'batchSize', 'lr', 'momentum', 'nesterov', 'weightDecay', 'warmupSteps',
  'labelSmoothing', 'res', 'stem', 'inChans', 'numClasses', 'interpolation', 'limitTrain', 'trainSize',
];

function checkResumable(state: CheckpointState, req: TrainRequest, cfg: TrainConfig, dir: string): void {
  const diff: string[] = [];
  if (JSON.stringify(state.request.model.spec) !== JSON.stringify(req.model.spec)) diff.push('model');
  if (state.request.dataset !== req.dataset) diff.push('dataset');
  if (state.seed !== req.seed) diff.push('seed');
  for (const k of CONFIG_KEYS_THAT_MUST_MATCH) if (JSON.stringify(state.config[k]) !== JSON.stringify(cfg[k])) diff.push(k);
  if (JSON.stringify(state.config.augment) !== JSON.stringify(cfg.augment)) diff.push('augment');
  if (diff.length) {
    throw new UsageError(`--resume: ${dir} was trained with different ${diff.join(', ')}; resume without changing those flags, or use a new --checkpoint folder`);
  }
}

function median(a: number[]): number {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function say(req: TrainRequest, line: string): void {
  if ((req.progress ?? 'auto') !== 'none') process.stderr.write(line + '\n');
}

export async function trainModel(req: TrainRequest): Promise<TrainResult> {
  if (req.resume && !req.checkpointDir) throw new UsageError('--resume needs --checkpoint DIR');
  const ds = await loadDataset(req.dataset, req.dataDir, req.overrides?.res);
  const cfg = resolveConfig(req, ds, (limit) => (limit === undefined ? ds.train.n : Math.min(limit, ds.train.n)));
  let state: CheckpointState | undefined;
  if (req.resume && hasCheckpoint(req.checkpointDir!)) {
    state = readCheckpointState(req.checkpointDir!);
    checkResumable(state, req, cfg, req.checkpointDir!);
  }
  const net = buildTrainNet(req, cfg);
  const cx = complexity(net);
  const engine: Engine = await selectEngine(req.engine, { threads: req.threads, device: req.device });
  const info = engine.info;
  say(req, `engine: ${info.engine} (${info.version}, ${info.threads} thread${info.threads === 1 ? '' : 's'}, ${info.device})`);
  let compiled: CompiledNet | undefined;
  try {
    if (state) {
      const t = readCheckpointTensors(req.checkpointDir!, state);
      compiled = engine.compile(net, t.weights);
      if (t.optimizer && t.optimizer.size) compiled.setOptimizerState(t.optimizer);
      say(req, `resuming ${req.checkpointDir} at epoch ${state.epoch + 1}, step ${state.step} (global step ${state.globalStep}/${cfg.totalSteps})`);
    } else {
      compiled = engine.compile(net, initWeights(net, req.seed));
    }
    return await runLoop(req, ds, cfg, net, cx, engine, compiled, state);
  } finally {
    compiled?.dispose();
    engine.close?.();
  }
}

async function runLoop(
  req: TrainRequest, ds: Dataset, cfg: TrainConfig, net: Network, cx: ReturnType<typeof complexity>,
  engine: Engine, compiled: CompiledNet, state: CheckpointState | undefined,
): Promise<TrainResult> {
  const pipe = trainPipeline(ds, cfg, req.seed);
  const spe = cfg.stepsPerEpoch;
  const T = cfg.totalSteps;
  const mode = req.progress ?? 'auto';
  const per = pipe.outChannels * pipe.outHeight * pipe.outWidth;
  const buf = new Float32Array(cfg.batchSize * per);
  let g = state?.globalStep ?? 0;
  let trainSeconds = state?.trainSeconds ?? 0;
  const rates: number[] = state ? [...state.stepRates] : [];
  let lastLoss = state?.lastLoss ?? NaN;
  let status: TrainStatus = 'ok';
  let divergedAt = -1;

  const snapshot = (s: CheckpointState['status'], result?: CheckpointState['result']): CheckpointState => ({
    version: 1, status: s, globalStep: g, epoch: Math.floor(g / spe), step: g % spe, seed: req.seed,
    rng: { kind: 'derived', seed: req.seed, epoch: Math.floor(g / spe), step: g % spe },
    request: savedRequest(req), config: cfg, engine: engine.info.engine, trainSeconds, stepRates: rates,
    lastLoss: Number.isFinite(lastLoss) ? lastLoss : null, ...(result ? { result } : {}), savedAt: new Date().toISOString(),
  });

  const stopRequested = () => req.signal?.aborted === true || (req.stopAtStep !== undefined && g >= req.stopAtStep);

  outer: while (g < T) {
    const epoch = Math.floor(g / spe);
    const start = g % spe;
    const steps = Math.min(spe, T - epoch * spe);
    const epochImages = Math.min(pipe.size, steps * cfg.batchSize);
    const bar = new Progress(mode, `epoch ${epoch + 1}/${cfg.epochs}`, epochImages, 'img', Math.min(epochImages, start * cfg.batchSize));
    let seen = 0, correct = 0, lossSum = 0, nSteps = 0;
    for (let s = start; s < steps; s++) {
      if (stopRequested()) {
        status = 'interrupted';
        bar.stop();
        break outer;
      }
      const t0 = performance.now();
      const b = pipe.batch(epoch, s, buf);
      const lr = lrAt(g, T, cfg.warmupSteps, cfg.lr);
      const r = compiled.trainStep(b.x, b.y, b.n, {
        lr, momentum: cfg.momentum, nesterov: cfg.nesterov, weightDecay: cfg.weightDecay, labelSmoothing: cfg.labelSmoothing,
      });
      const dt = (performance.now() - t0) / 1000;
      g++;
      lastLoss = r.loss;
      if (!Number.isFinite(r.loss)) {
        status = 'diverged';
        divergedAt = g;
        bar.stop();
        break outer;
      }
      trainSeconds += dt;
      rates.push(Math.round((b.n / dt) * 10) / 10);
      seen += b.n;
      correct += r.correct;
      lossSum += r.loss;
      nSteps++;
      bar.update(Math.min(epochImages, s * cfg.batchSize + b.n), { loss: lossSum / nSteps, acc: (100 * correct) / seen });
      // give SIGINT handlers and timers a turn between steps
      await new Promise((res) => setImmediate(res));
    }
    bar.stop();
    if (req.checkpointDir && g < T) saveCheckpoint(req.checkpointDir, compiled, snapshot('running'));
  }

  const base = {
    model: req.model.name, dataset: req.dataset, engine: engine.info.engine, epochs: cfg.epochs, steps: g,
    trainSeconds, imagesPerSec: median(rates), finalLoss: lastLoss, params: cx.params, flops: cx.flops, acts: cx.acts, imgSize: cfg.res,
  };
  if (status === 'interrupted') {
    if (req.checkpointDir) {
      saveCheckpoint(req.checkpointDir, compiled, snapshot('interrupted'));
      say(req, `interrupted at global step ${g}/${T}; checkpoint written to ${req.checkpointDir} (continue with --resume)`);
    } else {
      say(req, `interrupted at global step ${g}/${T} (no --checkpoint: nothing saved)`);
    }
    return { status, ...base, top1: NaN, top5: NaN };
  }
  if (status === 'diverged') {
    say(req, `diverged: loss ${lastLoss} at step ${divergedAt}; stopping (the last epoch checkpoint, if any, is kept)`);
    const result: TrainResult = { status, ...base, top1: NaN, top5: NaN };
    if (req.resultsDir) appendRun(join(req.resultsDir, 'runs.csv'), runRow(req, cfg, result));
    return result;
  }

  const evalPipe = evalPipeline(ds, cfg);
  const ev = await evaluate(compiled, evalPipe, { progress: mode, label: 'test' });
  say(req, `test: top1 ${ev.top1.toFixed(2)}%  top5 ${ev.top5.toFixed(2)}%  (${ev.n} images)`);
  const result: TrainResult = { status: 'ok', ...base, top1: ev.top1, top5: ev.top5 };
  if (req.checkpointDir) saveCheckpoint(req.checkpointDir, compiled, snapshot('finished', { top1: ev.top1, top5: ev.top5, n: ev.n }));
  if (req.resultsDir) {
    mergeResults(join(req.resultsDir, resultsFileName(req.dataset, ev.n, ds.test.n)), [
      { model: req.model.name, img_size: cfg.res, top1: ev.top1, top5: ev.top5, params: cx.params, ...resultGeometry(ds, cfg) },
    ]);
    appendRun(join(req.resultsDir, 'runs.csv'), runRow(req, cfg, result));
  }
  return result;
}

function runRow(req: TrainRequest, cfg: TrainConfig, r: TrainResult) {
  return {
    model: r.model, spec: JSON.stringify(req.model.spec), dataset: r.dataset, engine: r.engine, recipe: cfg.recipe,
    epochs: cfg.epochs, steps: r.steps, batch_size: cfg.batchSize, lr: cfg.lr, img_size: cfg.res, in_chans: cfg.inChans,
    stem: cfg.stem, seed: req.seed, train_seconds: r.trainSeconds, images_per_sec: r.imagesPerSec, params: r.params,
    flops: r.flops, acts: r.acts, final_loss: r.finalLoss, top1: r.top1, top5: r.top5, status: r.status,
    finished_at: new Date().toISOString(),
  };
}
