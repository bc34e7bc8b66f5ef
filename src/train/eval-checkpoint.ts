/** Re-evaluate a training checkpoint on its dataset's test split (what `regnet eval --checkpoint` runs). */
import { join } from 'node:path';
import { complexity } from '../arch/complexity.js';
import { compileOn } from '../engine/select.js';
import type { EngineChoice, EngineName } from '../engine/types.js';
import { resultsTarget } from '../results/subset.js';
import { mergeResults } from '../results/timm.js';
import { UsageError } from '../util/errors.js';
import { readCheckpointState, readCheckpointTensors } from './checkpoint.js';
import { evaluate, requireSamples } from './evaluate.js';
import type { ProgressMode } from './progress.js';
import { buildTrainNet, evalScope, loadDataset, resultGeometry, testSource } from './run.js';

export interface CheckpointEvalOptions {
  checkpointDir: string;
  /** a model name or spec to check against the checkpoint's (undefined: take the checkpoint's) */
  expectModel?: { name: string; spec: unknown };
  /** defaults: the checkpoint's dataset folder, engine auto */
  dataDir?: string;
  engine?: EngineChoice;
  threads?: number;
  device?: string;
  batchSize?: number;
  limitVal?: number;
  progress?: ProgressMode;
  /** write results-<dataset>.csv there */
  resultsDir?: string;
}

export interface CheckpointEvalResult {
  model: string;
  dataset: string;
  engine: EngineName;
  imgSize: number;
  top1: number;
  top5: number;
  n: number;
  params: number;
  globalStep: number;
  seconds: number;
}

export async function evaluateCheckpoint(o: CheckpointEvalOptions): Promise<CheckpointEvalResult> {
  const state = readCheckpointState(o.checkpointDir);
  const req = state.request;
  if (o.expectModel && o.expectModel.name !== req.model.name && JSON.stringify(o.expectModel.spec) !== JSON.stringify(req.model.spec)) {
    throw new UsageError(`${o.checkpointDir} holds ${req.model.name}, not ${o.expectModel.name}`);
  }
  const cfg = { ...state.config };
  if (o.batchSize !== undefined) cfg.evalBatchSize = o.batchSize;
  if (o.limitVal !== undefined) cfg.limitVal = o.limitVal;
  const ds = await loadDataset(req.dataset, o.dataDir ?? req.dataDir, cfg.res, req.classMap);
  const test = testSource(ds, cfg);
  requireSamples(test.size, ds.source ?? req.dataset); // before compiling anything
  const net = buildTrainNet(req, cfg);
  const { weights } = readCheckpointTensors(o.checkpointDir, state, false);
  const { engine, model: compiled } = await compileOn({ engine: o.engine ?? 'auto', threads: o.threads, device: o.device }, net, weights);
  try {
    const ev = await evaluate(compiled, test.source, { progress: o.progress ?? 'auto', label: 'test', total: test.size });
    const params = complexity(net).params;
    if (o.resultsDir) {
      const target = resultsTarget(req.dataset, evalScope(ds, cfg, ev.n));
      mergeResults(join(o.resultsDir, target.file), [
        { model: req.model.name, img_size: cfg.res, top1: ev.top1, top5: ev.top5, params, ...resultGeometry(ds, cfg), ...(target.subset ? { n_images: ev.n } : {}) },
      ]);
    }
    return {
      model: req.model.name, dataset: req.dataset, engine: engine.info.engine, imgSize: cfg.res, top1: ev.top1, top5: ev.top5,
      n: ev.n, params, globalStep: state.globalStep, seconds: ev.seconds,
    };
  } finally {
    compiled.dispose();
    engine.close?.();
  }
}
