/**
 * Model specifications: the few numbers that define a network before it is built.
 * zod schemas are the source of truth; types are inferred from them.
 */
import { z } from 'zod';

export const RegNetSpecSchema = z.object({
  kind: z.literal('regnet'),
  depth: z.number().int().min(1),
  w0: z.number().int().positive(),
  wa: z.number().min(0),
  wm: z.number().gt(1),
  groupSize: z.number().int().min(1),
  bottleRatio: z.number().gt(0).default(1),
  seRatio: z.number().min(0).default(0),
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

export const STEMS = ['imagenet', 'small'] as const;
export type Stem = (typeof STEMS)[number];

/** Below this input size (px) a network gets the small stem unless a stem is named. */
export const SMALL_STEM_BELOW = 64;

/**
 * The default stem for an input size, the one rule every command uses (train, describe, bench, compare,
 * models, eval, predict): `small` (3x3 stride-1 conv, no max pool) below 64 px, else `imagenet`.
 */
export function defaultStem(imgSize: number): Stem {
  return imgSize < SMALL_STEM_BELOW ? 'small' : 'imagenet';
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
