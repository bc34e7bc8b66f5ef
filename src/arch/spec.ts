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
  /**
   * timm's pre-activation RegNet ('V' = preact RegNetY): a bare conv stem, blocks norm+act -> conv (norm1,
   * conv1, norm2, conv2, se, norm3, conv3) with the shortcut taken after norm1, a bare 1x1 conv shortcut, no
   * act after the add, and one act before the head. Absent means false (the post-activation X/Y block).
   */
  preact: z.boolean().optional(),
  /** shortcut downsampling: 'conv1x1' (strided 1x1 conv, the default) or 'avg' (2x2 average pool, ceil mode, padding excluded, then a 1x1 conv) */
  downsample: z.enum(['conv1x1', 'avg']).optional(),
});
export type RegNetSpec = z.infer<typeof RegNetSpecSchema>;

/**
 * The ResNet family as timm's ResNet class parameterises it: ResNet (v1.5, stride on the 3x3), ResNeXt
 * (cardinality > 1), Wide ResNet (baseWidth 128), ResNet-D (deep stem + average-pool shortcut) and
 * SE-ResNe(X)t (seRatio 1/16). The variant fields are optional, absent meaning plain ResNet (cardinality 1,
 * baseWidth 64, stemType 'default', stemWidth 32, no avgDown, seRatio 0), so a plain ResNet's spec is the
 * same JSON it always was.
 */
export const ResNetSpecSchema = z.object({
  kind: z.literal('resnet'),
  block: z.enum(['basic', 'bottleneck']),
  layers: z.array(z.number().int().min(1)).min(1),
  /** groups of the bottleneck's 3x3 conv (ResNeXt's C) */
  cardinality: z.number().int().min(1).optional(),
  /** bottleneck width per group per 64 planes: width = floor(planes * baseWidth / 64) * cardinality */
  baseWidth: z.number().int().min(1).optional(),
  /** 'deep': three 3x3 convs (stemWidth, stemWidth, 64), the first with stride 2, instead of the 7x7 */
  stemType: z.enum(['default', 'deep']).optional(),
  stemWidth: z.number().int().positive().optional(),
  /** shortcut downsampling by a 2x2 average pool (ceil mode, padding excluded) before a stride-1 1x1 conv */
  avgDown: z.boolean().optional(),
  /** squeeze-excitation on each block's output before the residual add, width c * seRatio to the nearest multiple of 8 (0 = none) */
  seRatio: z.number().min(0).optional(),
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

/**
 * EfficientNet as timm builds `efficientnet_b0`..`b7` (Tan & Le 2019): the B0 stages (depthwise-separable
 * block, then MBConv inverted residuals with expansion 6, SE 0.25 of the block input, SiLU, BN) scaled by a
 * width multiplier (channels to a multiple of 8, never below 90% of the scaled width) and a depth
 * multiplier (ceil of each stage's repeats); stem 32 and head 1280 scale with the width.
 */
export const EfficientNetSpecSchema = z.object({
  kind: z.literal('efficientnet'),
  widthMult: z.number().gt(0).max(16),
  depthMult: z.number().gt(0).max(16),
});
export type EfficientNetSpec = z.infer<typeof EfficientNetSpecSchema>;

export const ModelSpecSchema = z.discriminatedUnion('kind', [RegNetSpecSchema, ResNetSpecSchema, AnyNetSpecSchema, EfficientNetSpecSchema]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

/** The ResNet variants, named as timm's model names start. */
export type ResNetFamily = 'resnet' | 'resnet_d' | 'wide_resnet' | 'resnext' | 'seresnet' | 'seresnext';
export type ModelFamily = 'regnetx' | 'regnety' | 'regnetv' | 'regnet' | 'anynet' | 'efficientnet' | ResNetFamily;

/**
 * The one rule for a model's family: a pre-activation RegNet is RegNetV, a RegNet with squeeze-excitation
 * is RegNetY, one without SE and with bottleneck ratio 1 is RegNetX, any other RegNet is 'regnet';
 * AnyNets, ResNets and EfficientNets by kind.
 */
export function modelFamily(spec: ModelSpec): ModelFamily {
  if (spec.kind === 'regnet') {
    if (spec.preact) return 'regnetv';
    return spec.seRatio > 0 ? 'regnety' : spec.bottleRatio === 1 ? 'regnetx' : 'regnet';
  }
  if (spec.kind === 'resnet') return resnetFamily(spec);
  return spec.kind;
}

/** ResNet variants: SE first (with or without groups), then groups, then width, then the D tweaks. */
function resnetFamily(spec: ResNetSpec): ResNetFamily {
  const cardinality = spec.cardinality ?? 1;
  if ((spec.seRatio ?? 0) > 0) return cardinality > 1 ? 'seresnext' : 'seresnet';
  if (cardinality > 1) return 'resnext';
  if ((spec.baseWidth ?? 64) !== 64) return 'wide_resnet';
  if (spec.stemType === 'deep' || spec.avgDown) return 'resnet_d';
  return 'resnet';
}

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
