/**
 * The model zoo: named models, built on demand. The RegNetX/RegNetY parameters (w0, wa, wm, group width,
 * depth) are those of Radosavovic et al. 2020 as timm's regnet.py lists them in `model_cfgs`, plus the timm
 * variants in the reference table; the ResNet family (ResNet, ResNeXt, Wide ResNet, ResNet-D, SE-ResNe(X)t)
 * follows timm's resnet.py model functions. Names are the pytorch-image-models names; torchvision's names
 * for the same architectures are aliases that resolve to them (`resolveZooName`).
 */
import { ZodError } from 'zod';
import { UsageError } from '../util/errors.js';
import { buildEfficientNet } from './efficientnet.js';
import type { Network } from './ir.js';
import { buildAnyNet, buildRegNet } from './regnet.js';
import { buildResNet, type ResNetInput } from './resnet.js';
import {
  EfficientNetSpecSchema,
  modelFamily,
  ResNetSpecSchema,
  type BuildOptions,
  type EfficientNetSpec,
  type ModelFamily,
  type ModelSpec,
  type RegNetSpec,
} from './spec.js';

type RegNetEntry = Omit<
  RegNetSpec,
  'kind' | 'bottleRatio' | 'seRatio' | 'groupMinRatio' | 'act' | 'norm' | 'stemWidth' | 'preact' | 'downsample'
> &
  Partial<Pick<RegNetSpec, 'seRatio' | 'groupMinRatio' | 'act' | 'norm' | 'preact' | 'downsample'>>;

function rx(w0: number, wa: number, wm: number, groupSize: number, depth: number, extra: Partial<RegNetEntry> = {}): RegNetEntry {
  return { w0, wa, wm, groupSize, depth, ...extra };
}
function ry(w0: number, wa: number, wm: number, groupSize: number, depth: number, extra: Partial<RegNetEntry> = {}): RegNetEntry {
  return { w0, wa, wm, groupSize, depth, seRatio: 0.25, ...extra };
}

const TV = { groupMinRatio: 0.9 };
/** timm's RegNetV ('preact RegNetY'): pre-activation blocks, SiLU */
const V = { act: 'silu' as const, preact: true };

const REGNETS: Record<string, RegNetEntry> = {
  regnetx_002: rx(24, 36.44, 2.49, 8, 13),
  regnetx_004: rx(24, 24.48, 2.54, 16, 22),
  regnetx_004_tv: rx(24, 24.48, 2.54, 16, 22, TV),
  regnetx_006: rx(48, 36.97, 2.24, 24, 16),
  regnetx_008: rx(56, 35.73, 2.28, 16, 16),
  regnetx_016: rx(80, 34.01, 2.25, 24, 18),
  regnetx_032: rx(88, 26.31, 2.25, 48, 25),
  regnetx_040: rx(96, 38.65, 2.43, 40, 23),
  regnetx_064: rx(184, 60.83, 2.07, 56, 17),
  regnetx_080: rx(80, 49.56, 2.88, 120, 23),
  regnetx_120: rx(168, 73.36, 2.37, 112, 19),
  regnetx_160: rx(216, 55.59, 2.1, 128, 22),
  regnetx_320: rx(320, 69.86, 2.0, 168, 23),
  regnety_002: ry(24, 36.44, 2.49, 8, 13),
  regnety_004: ry(48, 27.89, 2.09, 8, 16),
  regnety_006: ry(48, 32.54, 2.32, 16, 15),
  regnety_008: ry(56, 38.84, 2.4, 16, 14),
  regnety_008_tv: ry(56, 38.84, 2.4, 16, 14, TV),
  regnety_016: ry(48, 20.71, 2.65, 24, 27),
  regnety_032: ry(80, 42.63, 2.66, 24, 21),
  regnety_040: ry(96, 31.41, 2.24, 64, 22),
  regnety_040_sgn: ry(96, 31.41, 2.24, 64, 22, { act: 'silu', norm: 'gn' }),
  regnety_064: ry(112, 33.22, 2.27, 72, 25),
  regnety_080: ry(192, 76.82, 2.19, 56, 17),
  regnety_080_tv: ry(192, 76.82, 2.19, 56, 17, TV),
  regnety_120: ry(168, 73.36, 2.37, 112, 19),
  regnety_160: ry(200, 106.23, 2.48, 112, 18),
  regnety_320: ry(232, 115.89, 2.53, 232, 20),
  regnety_640: ry(352, 147.48, 2.4, 328, 20),
  regnety_1280: ry(456, 160.83, 2.52, 264, 27),
  regnety_2560: ry(640, 230.83, 2.53, 373, 27),
  regnetv_040: ry(96, 31.41, 2.24, 64, 22, V),
  regnetv_064: ry(112, 33.22, 2.27, 72, 25, { ...V, downsample: 'avg' }),
};

/** timm's efficientnet_b0..b7 (`_gen_efficientnet` channel and depth multipliers; Tan & Le 2019). */
const EFFICIENTNETS: Record<string, Omit<EfficientNetSpec, 'kind'>> = {
  efficientnet_b0: { widthMult: 1.0, depthMult: 1.0 },
  efficientnet_b1: { widthMult: 1.0, depthMult: 1.1 },
  efficientnet_b2: { widthMult: 1.1, depthMult: 1.2 },
  efficientnet_b3: { widthMult: 1.2, depthMult: 1.4 },
  efficientnet_b4: { widthMult: 1.4, depthMult: 1.8 },
  efficientnet_b5: { widthMult: 1.6, depthMult: 2.2 },
  efficientnet_b6: { widthMult: 1.8, depthMult: 2.6 },
  efficientnet_b7: { widthMult: 2.0, depthMult: 3.1 },
};

/**
 * Input size (px) of timm's default pretrained config where it is not 224: the first (default) tag of
 * efficientnet_b2 (ra_in1k, 256), b3 (ra2_in1k, 288), b4 (ra2_in1k, 320), b5 (sw_in12k_ft_in1k, 448),
 * b6 and b7 (untrained, 528 and 600). efficientnet_b0 and b1 (ft_in1k, test size 256), the RegNets and
 * ResNets train and evaluate at 224.
 */
const DEFAULT_IMG_SIZE: Record<string, number> = {
  efficientnet_b2: 256,
  efficientnet_b3: 288,
  efficientnet_b4: 320,
  efficientnet_b5: 448,
  efficientnet_b6: 528,
  efficientnet_b7: 600,
};

const BOTTLENECK = 'bottleneck' as const;
const L26 = [2, 2, 2, 2];
const L50 = [3, 4, 6, 3];
const L101 = [3, 4, 23, 3];
const L152 = [3, 8, 36, 3];
/** timm's ResNet-D: stem_width 32, stem_type 'deep', avg_down */
const D = { stemType: 'deep' as const, stemWidth: 32, avgDown: true };
/** timm's attn_layer 'se' in a ResNet block: SEModule's default rd_ratio 1/16 */
const SE = { seRatio: 1 / 16 };

const RESNETS: Record<string, ResNetInput> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet26: { block: BOTTLENECK, layers: L26 },
  resnet34: { block: 'basic', layers: L50 },
  resnet50: { block: BOTTLENECK, layers: L50 },
  resnet101: { block: BOTTLENECK, layers: L101 },
  resnet152: { block: BOTTLENECK, layers: L152 },
  resnet200: { block: BOTTLENECK, layers: [3, 24, 36, 3] },
  resnet18d: { block: 'basic', layers: [2, 2, 2, 2], ...D },
  resnet26d: { block: BOTTLENECK, layers: L26, ...D },
  resnet34d: { block: 'basic', layers: L50, ...D },
  resnet50d: { block: BOTTLENECK, layers: L50, ...D },
  resnet101d: { block: BOTTLENECK, layers: L101, ...D },
  resnet152d: { block: BOTTLENECK, layers: L152, ...D },
  wide_resnet50_2: { block: BOTTLENECK, layers: L50, baseWidth: 128 },
  wide_resnet101_2: { block: BOTTLENECK, layers: L101, baseWidth: 128 },
  resnext50_32x4d: { block: BOTTLENECK, layers: L50, cardinality: 32, baseWidth: 4 },
  resnext101_32x4d: { block: BOTTLENECK, layers: L101, cardinality: 32, baseWidth: 4 },
  resnext101_32x8d: { block: BOTTLENECK, layers: L101, cardinality: 32, baseWidth: 8 },
  seresnet50: { block: BOTTLENECK, layers: L50, ...SE },
  seresnext50_32x4d: { block: BOTTLENECK, layers: L50, cardinality: 32, baseWidth: 4, ...SE },
};

/**
 * torchvision's names for zoo architectures. Each maps to the timm model whose layers, widths, groups
 * and SE widths are the same (checked against torchvision's own models: test/fixtures/zoo_extra_224.csv,
 * where params, MACs, flops, acts and the multiset of parameter shapes agree). torchvision's RegNets round
 * bottleneck widths to the group width with a 0.9 floor, which changes three of them: those map to
 * timm's `_tv` variants. torchvision's resnet18/34/50/101/152, resnext50_32x4d, resnext101_32x8d,
 * wide_resnet50_2/101_2 and efficientnet_b0..b7 already carry timm's names. torchvision's EfficientNets
 * have timm's layers, widths, depths and SE widths (test/fixtures/zoo_effnet.csv) under their own layer
 * names (effnet_reference.py maps them one to one); its b5..b7 use BN eps 1e-3 where timm's use 1e-5, which
 * changes eval arithmetic slightly but no count or shape.
 */
const TORCHVISION_ALIASES: Record<string, string> = {
  regnet_x_400mf: 'regnetx_004_tv',
  regnet_x_800mf: 'regnetx_008',
  regnet_x_1_6gf: 'regnetx_016',
  regnet_x_3_2gf: 'regnetx_032',
  regnet_x_8gf: 'regnetx_080',
  regnet_x_16gf: 'regnetx_160',
  regnet_x_32gf: 'regnetx_320',
  regnet_y_400mf: 'regnety_004',
  regnet_y_800mf: 'regnety_008_tv',
  regnet_y_1_6gf: 'regnety_016',
  regnet_y_3_2gf: 'regnety_032',
  regnet_y_8gf: 'regnety_080_tv',
  regnet_y_16gf: 'regnety_160',
  regnet_y_32gf: 'regnety_320',
  regnet_y_128gf: 'regnety_1280',
};

export interface ZooEntry {
  /** the canonical (timm) name, also when looked up by a torchvision alias */
  name: string;
  family: ModelFamily;
  spec: ModelSpec;
  /** input size (px) of timm's default pretrained config (224 but for efficientnet_b2..b7) */
  imgSize: number;
}

/** Canonical zoo names, in zoo order (aliases are not listed). */
export function zooNames(): string[] {
  return [...Object.keys(REGNETS), ...Object.keys(RESNETS), ...Object.keys(EFFICIENTNETS)];
}

/** torchvision alias -> canonical zoo name. */
export function zooAliases(): Record<string, string> {
  return { ...TORCHVISION_ALIASES };
}

/** The canonical name of a zoo model or alias (unknown names are returned unchanged). */
export function resolveZooName(name: string): string {
  return Object.hasOwn(TORCHVISION_ALIASES, name) ? TORCHVISION_ALIASES[name]! : name;
}

/** timm's default input size (px) for a zoo model or alias; 224 for any other name. */
export function zooImgSize(nameIn: string): number {
  return DEFAULT_IMG_SIZE[resolveZooName(nameIn)] ?? 224;
}

export function zooEntry(nameIn: string): ZooEntry {
  const name = resolveZooName(nameIn);
  const imgSize = zooImgSize(name);
  const r = REGNETS[name];
  if (r) {
    const spec: RegNetSpec = {
      kind: 'regnet',
      bottleRatio: 1,
      seRatio: 0,
      groupMinRatio: 0,
      act: 'relu',
      norm: 'bn',
      stemWidth: 32,
      ...r,
    };
    return { name, family: modelFamily(spec), spec, imgSize };
  }
  const s = RESNETS[name];
  if (s) {
    const spec = ResNetSpecSchema.parse({ ...s, kind: 'resnet' });
    return { name, family: modelFamily(spec), spec, imgSize };
  }
  const e = EFFICIENTNETS[name];
  if (e) {
    const spec = EfficientNetSpecSchema.parse({ ...e, kind: 'efficientnet' });
    return { name, family: modelFamily(spec), spec, imgSize };
  }
  throw unknownModel(nameIn);
}

/** A zoo name or a torchvision alias of one. */
export function isZooName(name: string): boolean {
  const n = resolveZooName(name);
  return Object.hasOwn(REGNETS, n) || Object.hasOwn(RESNETS, n) || Object.hasOwn(EFFICIENTNETS, n);
}

/** Build a named model (an alias builds the canonical model, under the canonical name). */
export function buildModel(name: string, opts: BuildOptions = {}): Network {
  const e = zooEntry(name);
  return buildFromSpec(e.spec, opts, e.name);
}

/** Build any spec (zoo or parameterised); a spec or option out of range is a UsageError naming the field. */
export function buildFromSpec(spec: ModelSpec, opts: BuildOptions = {}, name?: string): Network {
  try {
    if (spec.kind === 'regnet') return buildRegNet(spec, opts, name);
    if (spec.kind === 'anynet') return buildAnyNet(spec, opts, name);
    if (spec.kind === 'efficientnet') return buildEfficientNet(spec, opts, name);
    return buildResNet(spec, opts, name);
  } catch (e) {
    if (!(e instanceof ZodError)) throw e;
    const issue = e.issues[0]!;
    throw new UsageError(`${name ?? spec.kind}: invalid ${issue.path.join('.') || 'spec'}: ${issue.message}`);
  }
}

/**
 * Canonical zoo names matching any of the globs (`*`, `?`), in zoo order, each once. A glob that matches
 * a torchvision alias selects the model it stands for.
 */
export function matchZoo(...patterns: string[]): string[] {
  const res = patterns.map(
    (p) =>
      new RegExp(
        '^' +
          p
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.') +
          '$',
      ),
  );
  const hit = (n: string) => res.some((re) => re.test(n));
  const picked = new Set(zooNames().filter(hit));
  for (const [alias, name] of Object.entries(TORCHVISION_ALIASES)) if (hit(alias)) picked.add(name);
  return zooNames().filter((n) => picked.has(n));
}

function unknownModel(name: string): UsageError {
  const close = [...zooNames(), ...Object.keys(TORCHVISION_ALIASES)]
    .map((n) => ({ n, d: editDistance(n, name) }))
    .sort((a, b) => a.d - b.d)
    .filter((x, i) => i < 3 && x.d <= Math.max(3, Math.floor(name.length / 3)))
    .map((x) => x.n);
  const hint = close.length ? ` Did you mean ${close.join(', ')}?` : ' Run `regnet models` for the list.';
  return new UsageError(`unknown model '${name}'.${hint}`);
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length]![b.length]!;
}
