/** A TrainRequest + its recipe + the dataset -> every number a run uses (recorded in checkpoints). */
import { z } from 'zod';
import { defaultStem, ModelSpecSchema } from '../arch/spec.js';
import { defaultAugment } from '../data/pipeline.js';
import { canonicalAa } from '../data/randaugment.js';
import type { Dataset, FileDataset } from '../data/types.js';
import { AMP_DTYPES, ENGINE_CHOICES } from '../engine/types.js';
import { UsageError } from '../util/errors.js';
import { firstIssue, HyperOverridesSchema, HyperSchema } from './hyper.js';
import { defaultRecipeFor, loadRecipe, type Recipe } from './recipe.js';
import type { TrainRequest } from './types.js';

const H = HyperSchema.shape;

/** Every number a run uses; the hyper-parameters keep HyperSchema's bounds. */
export const TrainConfigSchema = z.object({
  recipe: z.string(),
  epochs: H.epochs,
  /** optimiser steps of the whole run (the cosine schedule spans these) */
  totalSteps: H.steps,
  stepsPerEpoch: z.number().int().min(1),
  batchSize: H.batchSize,
  lr: H.lr,
  momentum: H.momentum,
  nesterov: H.nesterov,
  weightDecay: H.weightDecay,
  warmupEpochs: H.warmupEpochs,
  warmupSteps: z.number().int().min(0),
  labelSmoothing: H.labelSmoothing,
  augment: z.object({ padCrop: z.number().int().min(0), flip: z.boolean() }),
  /** RandAugment (timm's string, canonical form: src/data/randaugment.ts); absent = none */
  aa: z.string().optional(),
  res: z.number().int().min(1),
  stem: z.enum(['imagenet', 'small']),
  inChans: z.number().int().min(1),
  numClasses: z.number().int().min(1),
  /** how dataset images are brought to `res`: 'none' when they already have that size */
  interpolation: z.enum(['none', 'nearest', 'bilinear']),
  limitTrain: H.limitTrain.optional(),
  limitVal: H.limitVal.optional(),
  evalBatchSize: H.evalBatchSize,
  trainSize: z.number().int().min(1),
  // absent from checkpoints written before these existed: the defaults are what those runs did
  opt: H.opt.default('sgd'),
  ema: H.ema.default(false),
  emaDecay: H.emaDecay.default(0.9998),
  mixup: H.mixup.default(0),
  cutmix: H.cutmix.default(0),
  mixupProb: H.mixupProb.default(1),
  mixupSwitchProb: H.mixupSwitchProb.default(0.5),
  dropPath: H.dropPath.default(0),
  /** micro-batches of batchSize per optimiser step: a step consumes batchSize * gradAccumSteps images */
  gradAccumSteps: H.gradAccumSteps.default(1),
  /**
   * data-parallel ranks whose BatchNorm layers used per-rank batch statistics (no --sync-bn): not the
   * numbers of one process, so part of the recipe label; 1 otherwise (one process, --sync-bn, no BN)
   */
  bnRanks: z.number().int().min(1).default(1),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** Images per optimiser step (all micro-batches of one step). */
export function stepBatch(cfg: Pick<TrainConfig, 'batchSize' | 'gradAccumSteps'>): number {
  return cfg.batchSize * cfg.gradAccumSteps;
}

/** What a checkpoint needs to rebuild the request (no signal, no callbacks). */
export const SavedRequestSchema = z.object({
  model: z.object({ name: z.string(), spec: ModelSpecSchema }),
  dataset: z.string(),
  dataDir: z.string().optional(),
  classMap: z.string().optional(),
  recipe: z.string().optional(),
  overrides: z.record(z.string(), z.unknown()).optional(),
  engine: z.enum(ENGINE_CHOICES),
  threads: z.number().int().optional(),
  device: z.string().optional(),
  amp: z.enum(AMP_DTYPES).optional(),
  channelsLast: z.boolean().optional(),
  seed: z.number(),
  limitTrain: H.limitTrain.optional(),
  limitVal: H.limitVal.optional(),
});
export type SavedRequest = z.infer<typeof SavedRequestSchema>;

export function savedRequest(req: TrainRequest): SavedRequest {
  const out: SavedRequest = { model: req.model, dataset: req.dataset, engine: req.engine, seed: req.seed };
  if (req.dataDir !== undefined) out.dataDir = req.dataDir;
  if (req.classMap !== undefined) out.classMap = req.classMap;
  if (req.recipe !== undefined) out.recipe = req.recipe;
  if (req.overrides && Object.keys(req.overrides).length) out.overrides = { ...req.overrides };
  if (req.threads !== undefined) out.threads = req.threads;
  if (req.device !== undefined) out.device = req.device;
  if (req.amp !== undefined) out.amp = req.amp;
  if (req.channelsLast) out.channelsLast = true;
  if (req.limitTrain !== undefined) out.limitTrain = req.limitTrain;
  if (req.limitVal !== undefined) out.limitVal = req.limitVal;
  return out;
}

function pick<T>(override: T | undefined, recipe: T): T {
  return override !== undefined ? override : recipe;
}

/** Resolve the run's configuration; `trainSize` is the number of training samples after --limit-train. */
export function resolveConfig(
  req: TrainRequest,
  ds: Dataset | FileDataset,
  trainSizeOf: (limit: number | undefined) => number,
): TrainConfig {
  const recipeName = req.recipe ?? defaultRecipeFor(ds.name);
  const { name, recipe } = loadRecipe(recipeName);
  const o = req.overrides ?? {};
  // flags and sweep configs are checked when read; this covers programmatic requests and saved checkpoints
  const checked = HyperOverridesSchema.safeParse(o);
  if (!checked.success) throw new UsageError(`overrides: ${firstIssue(checked.error)}`);
  const r: Recipe = recipe;
  const batchSize = pick(o.batchSize, r.batchSize);
  const limitTrain = req.limitTrain ?? r.limitTrain;
  const limitVal = req.limitVal ?? r.limitVal;
  const trainSize = trainSizeOf(limitTrain);
  const gradAccumSteps = pick(o.gradAccumSteps, r.gradAccumSteps);
  const stepsPerEpoch = Math.ceil(trainSize / (batchSize * gradAccumSteps));
  // --steps wins over --epochs; a recipe's steps only apply when no flag names the run length
  const steps = o.steps ?? (o.epochs === undefined ? r.steps : undefined);
  const epochs = steps !== undefined ? Math.ceil(steps / stepsPerEpoch) : pick(o.epochs, r.epochs);
  const totalSteps = steps ?? epochs * stepsPerEpoch;
  const warmupEpochs = pick(o.warmupEpochs, r.warmupEpochs);
  const res = o.res ?? ds.height;
  const inChans = o.inChans ?? 3;
  if (inChans !== ds.channels && !(ds.channels === 1 && inChans === 3)) {
    throw new UsageError(
      `--in-chans ${inChans}: ${ds.name} has ${ds.channels}-channel images (allowed: ${ds.channels === 1 ? '1 or 3' : String(ds.channels)})`,
    );
  }
  let augment: { padCrop: number; flip: boolean };
  const recAug = r.augment;
  const fromDefault = () => {
    const a = defaultAugment(ds.name, ds.height);
    return { padCrop: a.padCrop ?? 0, flip: a.flip ?? false };
  };
  if (o.augment === false) augment = { padCrop: 0, flip: false };
  else if (typeof recAug === 'object') augment = recAug;
  else if (recAug === 'default' || o.augment === true) augment = fromDefault();
  else augment = { padCrop: 0, flip: false };
  // RandAugment: the flag or override, else the recipe's unless --no-augment turned augmentation off
  const aa = canonicalAa(o.aa !== undefined ? o.aa : o.augment === false ? undefined : r.aa, 'aa');
  const lr = pick(o.lr, r.lr);
  return TrainConfigSchema.parse({
    recipe: name,
    epochs,
    totalSteps,
    stepsPerEpoch,
    batchSize,
    lr,
    momentum: pick(o.momentum, r.momentum),
    nesterov: pick(o.nesterov, r.nesterov),
    weightDecay: pick(o.weightDecay, r.weightDecay),
    warmupEpochs,
    warmupSteps: Math.min(totalSteps, Math.round(warmupEpochs * stepsPerEpoch)),
    labelSmoothing: pick(o.labelSmoothing, r.labelSmoothing),
    augment,
    aa,
    res,
    stem: o.stem ?? defaultStem(res),
    inChans,
    numClasses: ds.numClasses,
    interpolation: res === ds.height && res === ds.width ? 'none' : 'bilinear',
    limitTrain,
    limitVal,
    evalBatchSize: r.evalBatchSize,
    trainSize,
    opt: pick(o.opt, r.opt),
    ema: pick(o.ema, r.ema),
    emaDecay: pick(o.emaDecay, r.emaDecay),
    mixup: pick(o.mixup, r.mixup),
    cutmix: pick(o.cutmix, r.cutmix),
    mixupProb: pick(o.mixupProb, r.mixupProb),
    mixupSwitchProb: pick(o.mixupSwitchProb, r.mixupSwitchProb),
    dropPath: pick(o.dropPath, r.dropPath),
    gradAccumSteps,
  });
}
