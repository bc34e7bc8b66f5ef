/** Re-evaluate a training checkpoint on its dataset's test split (what `regnet eval --checkpoint` runs). */
import { join } from 'node:path';
import { complexity } from '../arch/complexity.js';
import { canonicalName, sameArchitecture } from '../arch/identity.js';
import type { ModelSpec } from '../arch/spec.js';
import { inferenceThroughput } from '../bench/bench.js';
import { compileOn } from '../engine/select.js';
import { numerics, type AmpDtype, type EngineChoice, type EngineName, type Precision } from '../engine/types.js';
import { resultsTarget } from '../results/subset.js';
import { mergeResults } from '../results/timm.js';
import { UsageError } from '../util/errors.js';
import { median } from '../util/median.js';
import { readCheckpointEma, readCheckpointState, readCheckpointTensors } from './checkpoint.js';
import { evaluate, requireSamples } from './evaluate.js';
import type { ProgressMode } from './progress.js';
import { emaRecipeLabel, recipeLabel, trainedResultRow } from './results-row.js';
import { buildTrainNet, evalScope, loadDataset, resultGeometry, testSource } from './run.js';
import type { TrainRequest } from './types.js';

export interface CheckpointEvalOptions {
  checkpointDir: string;
  /** the EMA weights (a run trained with --ema) instead of the raw ones */
  ema?: boolean;
  /** a model name or spec to check against the checkpoint's (undefined: take the checkpoint's) */
  expectModel?: { name: string; spec: ModelSpec };
  /** defaults: the checkpoint's dataset folder, engine auto */
  dataDir?: string;
  engine?: EngineChoice;
  threads?: number;
  device?: string;
  /** torch: evaluate in mixed precision / NHWC (default: fp32 NCHW, whatever the training used) */
  amp?: AmpDtype;
  channelsLast?: boolean;
  batchSize?: number;
  limitVal?: number;
  progress?: ProgressMode;
  /** write results-<dataset>.csv there */
  resultsDir?: string;
  /** measure inference throughput after evaluation (default: when resultsDir is set) */
  bench?: boolean;
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
  /** inference samples/s measured after evaluation (absent with bench off) */
  inferSamplesPerSec?: number;
  resultsFile?: string;
}

/** The results row's precision: the training's, and the evaluation's when it differs (`bf16,eval=fp32`). */
export function precisionColumn(train: Precision, evaluation: Precision): string {
  return train === evaluation ? train : `${train},eval=${evaluation}`;
}

export async function evaluateCheckpoint(o: CheckpointEvalOptions): Promise<CheckpointEvalResult> {
  const state = readCheckpointState(o.checkpointDir);
  const req = state.request;
  // results carry the canonical name, also for checkpoints written before names were canonical
  const model = { name: canonicalName(req.model.spec), spec: req.model.spec };
  if (o.expectModel && !sameArchitecture(o.expectModel.spec, req.model.spec)) {
    throw new UsageError(`${o.checkpointDir} holds ${model.name}, not ${o.expectModel.name}`);
  }
  const cfg = { ...state.config };
  if (o.batchSize !== undefined) cfg.evalBatchSize = o.batchSize;
  if (o.limitVal !== undefined) cfg.limitVal = o.limitVal;
  const ds = await loadDataset(req.dataset, o.dataDir ?? req.dataDir, cfg.res, req.classMap);
  const test = testSource(ds, cfg);
  requireSamples(test.size, ds.source ?? req.dataset); // before compiling anything
  const net = buildTrainNet(req, cfg);
  if (o.ema && !state.config.ema) throw new UsageError(`--ema: ${o.checkpointDir} was trained without --ema (no EMA weights)`);
  const { weights } = o.ema ? { weights: readCheckpointEma(o.checkpointDir, state) } : readCheckpointTensors(o.checkpointDir, state, false);
  const { engine, model: compiled } = await compileOn(
    { engine: o.engine ?? 'auto', threads: o.threads, device: o.device, amp: o.amp, channelsLast: o.channelsLast },
    net,
    weights,
  );
  try {
    const ev = await evaluate(compiled, test.source, { progress: o.progress ?? 'auto', label: 'test', total: test.size });
    const infer = (o.bench ?? Boolean(o.resultsDir)) ? await inferenceThroughput(compiled, cfg.evalBatchSize) : undefined;
    const cx = complexity(net);
    let resultsFile: string | undefined;
    if (o.resultsDir) {
      const target = resultsTarget(req.dataset, evalScope(ds, cfg, ev.n));
      resultsFile = join(o.resultsDir, target.file);
      mergeResults(resultsFile, [
        {
          ...trainedResultRow({
            model,
            cfg,
            recipe: (o.ema ? emaRecipeLabel : (l: string) => l)(
              recipeLabel(req as Pick<TrainRequest, 'recipe' | 'overrides'>, ds, state.config, state.extendedFrom),
            ),
            seed: state.seed,
            top1: ev.top1,
            top5: ev.top5,
            params: cx.params,
            flops: cx.flops,
            acts: cx.acts,
            trainSamplesPerSec: median(state.stepRates),
            infer,
            engine: engine.info,
            precision: precisionColumn(req.amp ?? 'fp32', numerics(engine.info).precision),
            geometry: resultGeometry(ds, cfg),
          }),
          ...(target.subset ? { n_images: ev.n } : {}),
        },
      ]);
    }
    return {
      model: model.name,
      dataset: req.dataset,
      engine: engine.info.engine,
      imgSize: cfg.res,
      top1: ev.top1,
      top5: ev.top5,
      n: ev.n,
      params: cx.params,
      globalStep: state.globalStep,
      seconds: ev.seconds,
      ...(infer ? { inferSamplesPerSec: infer.samplesPerSec } : {}),
      ...(resultsFile ? { resultsFile } : {}),
    };
  } finally {
    compiled.dispose();
    engine.close?.();
  }
}
