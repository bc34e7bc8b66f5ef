/**
 * Model specifications: the few numbers that define a network before it is built.
 * zod schemas are the source of truth; types are inferred from them. The RegNet parameter ranges come
 * from src/space/regnet.ts (REGNET_PARAM_RULES).
 */
import { z } from 'zod';
import { regnetParamSchema } from '../space/regnet.js';

export const RegNetSpecSchema = z.object({
  kind: z.literal('regnet'),
  depth: regnetParamSchema('depth'),
  w0: regnetParamSchema('w0'),
  wa: regnetParamSchema('wa'),
  wm: regnetParamSchema('wm'),
  groupSize: regnetParamSchema('groupSize'),
  bottleRatio: regnetParamSchema('bottleRatio').default(1),
  seRatio: regnetParamSchema('seRatio').default(0),
  /** torchvision-style group rounding (timm's `_tv` variants); 0 = the paper's round-half-even rule */
  groupMinRatio: z.number().min(0).default(0),
  act: z.enum(['relu', 'silu']).default('relu'),
  norm: z.enum(['bn', 'gn']).default('bn'),
  stemWidth: z.number().int().positive().default(32),
});
export type RegNetSpec = z.infer<typeof RegNetSpecSchema>;

export const ResNetSpecSchema = z.object({
  kind: z.literal('resnet'),
  block: z.enum(['basic', 'bottleneck']),
  layers: z.array(z.number().int().min(1)).min(1),
});
export type ResNetSpec = z.infer<typeof ResNetSpecSchema>;

/** AnyNet (the general space RegNet refines): free per-stage depth, width, bottleneck ratio, group width. */
export const AnyNetStageSchema = z.object({
  depth: z.number().int().min(1),
  width: z.number().int().min(1),
  bottleRatio: z.number().gt(0).default(1),
  groupWidth: z.number().int().min(1),
});
export const AnyNetSpecSchema = z.object({
  kind: z.literal('anynet'),
  stages: z.array(AnyNetStageSchema).min(1),
  seRatio: z.number().min(0).default(0),
  act: z.enum(['relu', 'silu']).default('relu'),
  norm: z.enum(['bn', 'gn']).default('bn'),
  stemWidth: z.number().int().positive().default(32),
});
export type AnyNetSpec = z.infer<typeof AnyNetSpecSchema>;

export const ModelSpecSchema = z.discriminatedUnion('kind', [RegNetSpecSchema, ResNetSpecSchema, AnyNetSpecSchema]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export type ModelFamily = 'regnetx' | 'regnety' | 'regnet' | 'anynet' | 'resnet';

/**
 * The one rule for a model's family: a RegNet with squeeze-excitation is RegNetY, one without SE and
 * with bottleneck ratio 1 is RegNetX, any other RegNet is 'regnet'; AnyNets and ResNets by kind.
 */
export function modelFamily(spec: ModelSpec): ModelFamily {
  if (spec.kind === 'regnet') return spec.seRatio > 0 ? 'regnety' : spec.bottleRatio === 1 ? 'regnetx' : 'regnet';
  return spec.kind;
}

/** Options that shape a built network without changing its design. */
export const BuildOptionsSchema = z.object({
  res: z.number().int().min(1).default(224),
  /** height when not square */
  resH: z.number().int().min(1).optional(),
  numClasses: z.number().int().min(1).default(1000),
  inChans: z.number().int().min(1).default(3),
  /** `small`: 3x3 stride-1 stem without max pool, for 28-32 px images */
  stem: z.enum(['imagenet', 'small']).default('imagenet'),
});
export type BuildOptions = z.input<typeof BuildOptionsSchema>;
export type ResolvedBuildOptions = z.output<typeof BuildOptionsSchema>;
