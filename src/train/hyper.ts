/**
 * Training hyper-parameters: the one place their bounds are stated. Recipes (recipe.ts), the resolved
 * run configuration (config.ts), the overrides of a TrainRequest and of a sweep config, and the
 * command-line flags all take their fields from HyperSchema. Each field's message is the allowed
 * range, so any of those readers can report `FIELD: must be ...` on one line.
 */
import { z } from 'zod';
import { parseRandAugment } from '../data/randaugment.js';
import { LIMITS } from '../util/limits.js';

/** integers in [1, max]: the bound keeps a typo from reaching an allocation or a loop of 10^12 steps */
const count = (max: number) =>
  z
    .number({ error: `must be an integer in [1, ${max}]` })
    .int()
    .min(1)
    .max(max);
const nonNegative = () => z.number({ error: 'must be a number >= 0' }).min(0);
/** fractions that must stay below 1 (momentum 1 never decays; label smoothing 1 leaves no label) */
const belowOne = () => z.number({ error: 'must be a number in [0, 1)' }).min(0).lt(1);
const probability = () => z.number({ error: 'must be a number in [0, 1]' }).min(0).max(1);

export const OPTIMIZERS = ['sgd', 'adamw'] as const;

export const HyperSchema = z.object({
  epochs: count(LIMITS.epochs),
  /** total optimiser steps; when set it overrides epochs (the schedule spans exactly these steps) */
  steps: count(LIMITS.steps),
  batchSize: count(LIMITS.batch),
  /** peak learning rate */
  lr: z.number({ error: 'must be a number > 0' }).positive(),
  momentum: belowOne(),
  nesterov: z.boolean({ error: 'must be true or false' }),
  /** decay of conv and FC weights only */
  weightDecay: nonNegative(),
  /** linear warm-up length in epochs (fractions allowed) */
  warmupEpochs: nonNegative(),
  labelSmoothing: belowOne(),
  /** class-stratified subsets of the training and test splits */
  limitTrain: count(LIMITS.images),
  limitVal: count(LIMITS.images),
  evalBatchSize: count(LIMITS.batch),
  /** timm's RandAugment string (`rand-m9-mstd0.5`), or 'none' */
  aa: z.string({ error: 'must be a RandAugment string such as rand-m9-mstd0.5, or none' }).superRefine((v, ctx) => {
    if (v === 'none') return;
    try {
      parseRandAugment(v, 'aa');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^aa: /, '') });
    }
  }),
  /** sgd (momentum, nesterov) or adamw (torch defaults betas 0.9/0.999, eps 1e-8; decoupled decay) */
  opt: z.enum(OPTIMIZERS, { error: `must be one of ${OPTIMIZERS.join(', ')}` }),
  /** keep an exponential moving average of the weights and BN buffers, evaluated and saved beside them */
  ema: z.boolean({ error: 'must be true or false' }),
  emaDecay: z.number({ error: 'must be a number in (0, 1)' }).gt(0).lt(1),
  /** mixup / cutmix Beta(alpha, alpha) parameters (0: off), timm's batch mode */
  mixup: nonNegative(),
  cutmix: nonNegative(),
  /** probability that a batch is mixed at all, and that a mixed batch uses cutmix when both are on */
  mixupProb: probability(),
  mixupSwitchProb: probability(),
  /** stochastic depth rate of the last residual block (timm's per-block schedule) */
  dropPath: belowOne(),
  /** micro-batches of --batch-size per optimiser step */
  gradAccumSteps: count(1024),
});
export type Hyper = z.infer<typeof HyperSchema>;

/**
 * What a run may change on top of its recipe (TrainRequest.overrides, a sweep config's `overrides`):
 * the schedule and optimiser fields, RandAugment (`aa`), and `augment` on/off.
 */
export const HyperOverridesSchema = HyperSchema.pick({
  epochs: true,
  steps: true,
  batchSize: true,
  lr: true,
  momentum: true,
  nesterov: true,
  weightDecay: true,
  warmupEpochs: true,
  labelSmoothing: true,
  aa: true,
  opt: true,
  ema: true,
  emaDecay: true,
  mixup: true,
  cutmix: true,
  mixupProb: true,
  mixupSwitchProb: true,
  dropPath: true,
  gradAccumSteps: true,
})
  .extend({ augment: z.boolean({ error: 'must be true or false' }) })
  .partial();
export type HyperOverrides = z.infer<typeof HyperOverridesSchema>;

/** The first problem of a failed parse as `path: message` (the path joined with dots). */
export function firstIssue(error: z.ZodError): string {
  const i = error.issues[0]!;
  return `${i.path.join('.') || '(root)'}: ${i.message}`;
}
