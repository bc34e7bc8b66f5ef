/**
 * The row a training run (or a re-evaluation of its checkpoint) adds to results-<dataset>[-<split>].csv:
 * timm's columns, then complexity, both throughputs, where it ran, and what identifies the run (stem,
 * input channels, recipe with its overrides, seed, the spec as JSON).
 */
import { trainSize, type Dataset, type FileDataset } from '../data/types.js';
import type { ResultRow } from '../results/timm.js';
import { resolveConfig, type TrainConfig } from './config.js';
import type { TrainRequest } from './types.js';

type Described = Pick<
  TrainConfig,
  | 'recipe'
  | 'epochs'
  | 'totalSteps'
  | 'stepsPerEpoch'
  | 'batchSize'
  | 'lr'
  | 'momentum'
  | 'nesterov'
  | 'weightDecay'
  | 'warmupEpochs'
  | 'labelSmoothing'
  | 'augment'
  | 'aa'
  | 'limitTrain'
  | 'opt'
  | 'ema'
  | 'emaDecay'
  | 'mixup'
  | 'cutmix'
  | 'mixupProb'
  | 'mixupSwitchProb'
  | 'dropPath'
  | 'gradAccumSteps'
  | 'bnRanks'
>;

const augmentText = (a: TrainConfig['augment']) =>
  a.padCrop === 0 && !a.flip ? 'none' : [a.padCrop ? `crop${a.padCrop}` : '', a.flip ? 'flip' : ''].filter(Boolean).join('+');

/**
 * The recipe as the results table names it: its name, plus every setting a flag or a sweep override
 * changed from it, e.g. `digits[epochs=1,limit_train=64]` or `imagenet[aa=rand-m9-mstd0.5]`. Runs that differ in any of these have
 * different numbers, so they are different rows; a flag that repeats the recipe's own value changes nothing.
 */
export function describeRecipe(cfg: Described, base: Described, extendedFrom?: number[]): string {
  const parts: string[] = [];
  const stepsBased = cfg.totalSteps !== cfg.epochs * cfg.stepsPerEpoch;
  if (cfg.totalSteps !== base.totalSteps || cfg.epochs !== base.epochs)
    parts.push(stepsBased ? `steps=${cfg.totalSteps}` : `epochs=${cfg.epochs}`);
  const add = (key: string, a: unknown, b: unknown, show = String(a)) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) parts.push(`${key}=${show}`);
  };
  add('batch_size', cfg.batchSize, base.batchSize);
  add('lr', cfg.lr, base.lr);
  add('momentum', cfg.momentum, base.momentum);
  add('nesterov', cfg.nesterov, base.nesterov);
  add('wd', cfg.weightDecay, base.weightDecay);
  add('warmup_epochs', cfg.warmupEpochs, base.warmupEpochs);
  add('label_smoothing', cfg.labelSmoothing, base.labelSmoothing);
  add('augment', cfg.augment, base.augment, augmentText(cfg.augment));
  add('aa', cfg.aa ?? 'none', base.aa ?? 'none');
  add('limit_train', cfg.limitTrain ?? 'all', base.limitTrain ?? 'all');
  add('opt', cfg.opt, base.opt);
  const emaText = (c: Described) => (c.ema ? String(c.emaDecay) : 'off');
  add('ema', emaText(cfg), emaText(base));
  add('mixup', cfg.mixup, base.mixup);
  add('cutmix', cfg.cutmix, base.cutmix);
  // the probabilities only matter while mixup or cutmix is on
  const mixing = (c: Described) => c.mixup > 0 || c.cutmix > 0;
  if (mixing(cfg)) {
    add('mixup_prob', cfg.mixupProb, mixing(base) ? base.mixupProb : 1);
    if (cfg.mixup > 0 && cfg.cutmix > 0) add('mixup_switch_prob', cfg.mixupSwitchProb, mixing(base) ? base.mixupSwitchProb : 0.5);
  }
  add('drop_path', cfg.dropPath, base.dropPath);
  add('grad_accum', cfg.gradAccumSteps, base.gradAccumSteps);
  add('bn_ranks', cfg.bnRanks, base.bnRanks);
  // a finished run extended to more epochs (--resume): not the same numbers as one planned that long
  if (extendedFrom?.length) parts.push(`resumed_from=${extendedFrom.join('+')}`);
  return parts.length ? `${cfg.recipe}[${parts.join(',')}]` : cfg.recipe;
}

/** The recipe label of a run: its config against the recipe's own settings at the same input shape. */
export function recipeLabel(
  req: Pick<TrainRequest, 'recipe' | 'overrides'>,
  ds: Dataset | FileDataset,
  cfg: TrainConfig,
  extendedFrom?: number[],
): string {
  const trainN = trainSize(ds);
  const o = req.overrides ?? {};
  const shape = {
    ...(o.res !== undefined ? { res: o.res } : {}),
    ...(o.stem !== undefined ? { stem: o.stem } : {}),
    ...(o.inChans !== undefined ? { inChans: o.inChans } : {}),
  };
  const plain = resolveConfig(
    {
      model: { name: '', spec: { kind: 'resnet', block: 'basic', layers: [1] } },
      dataset: ds.name,
      engine: 'auto',
      seed: 0,
      recipe: req.recipe,
      overrides: shape,
    },
    ds,
    (limit) => (limit === undefined ? trainN : Math.min(limit, trainN)),
  );
  return describeRecipe(cfg, plain, extendedFrom);
}

/** The recipe label of the EMA weights' row: the run's label with weights=ema inside the brackets. */
export function emaRecipeLabel(label: string): string {
  return label.endsWith(']') ? `${label.slice(0, -1)},weights=ema]` : `${label}[weights=ema]`;
}

export interface RunFacts {
  model: { name: string; spec: unknown };
  cfg: TrainConfig;
  recipe: string;
  seed: number;
  top1: number;
  top5: number;
  params: number;
  flops: number;
  acts: number;
  /** median training images/s of the run */
  trainSamplesPerSec: number;
  infer?: { samplesPerSec: number; batch: number };
  engine: { engine: string; device: string; threads: number };
  /** the results row's precision column: fp32, bf16, fp16, or e.g. `bf16,eval=fp32` (absent: left empty) */
  precision?: string;
  geometry: { crop_pct: number; interpolation: string };
}

export function trainedResultRow(f: RunFacts): ResultRow {
  return {
    model: f.model.name,
    img_size: f.cfg.res,
    top1: f.top1,
    top5: f.top5,
    params: f.params,
    ...f.geometry,
    flops: f.flops,
    acts: f.acts,
    ...(f.infer && Number.isFinite(f.infer.samplesPerSec)
      ? { infer_samples_per_sec: f.infer.samplesPerSec, infer_batch_size: f.infer.batch }
      : {}),
    ...(Number.isFinite(f.trainSamplesPerSec) ? { train_samples_per_sec: f.trainSamplesPerSec } : {}),
    train_batch_size: f.cfg.batchSize,
    engine: f.engine.engine,
    device: f.engine.device,
    threads: f.engine.threads,
    ...(f.precision !== undefined ? { precision: f.precision } : {}),
    stem: f.cfg.stem,
    in_chans: f.cfg.inChans,
    epochs: f.cfg.epochs,
    recipe: f.recipe,
    seed: f.seed,
    arch: JSON.stringify(f.model.spec),
  };
}
