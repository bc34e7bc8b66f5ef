/**
 * The model zoo: named models, built on demand. The RegNetX/RegNetY parameters (w0, wa, wm, group width,
 * depth) are those of Radosavovic et al. 2020 as timm's regnet.py lists them in `model_cfgs`, plus the timm
 * variants in the reference table. Names are the pytorch-image-models names.
 */
import { ZodError } from 'zod';
import { UsageError } from '../util/errors.js';
import type { Network } from './ir.js';
import { buildAnyNet, buildRegNet } from './regnet.js';
import { buildResNet } from './resnet.js';
import type { BuildOptions, ModelSpec, RegNetSpec, ResNetSpec } from './spec.js';

type RegNetEntry = Omit<RegNetSpec, 'kind' | 'bottleRatio' | 'seRatio' | 'groupMinRatio' | 'act' | 'norm' | 'stemWidth'> &
  Partial<Pick<RegNetSpec, 'seRatio' | 'groupMinRatio' | 'act' | 'norm'>>;

function rx(w0: number, wa: number, wm: number, groupSize: number, depth: number, extra: Partial<RegNetEntry> = {}): RegNetEntry {
  return { w0, wa, wm, groupSize, depth, ...extra };
}
function ry(w0: number, wa: number, wm: number, groupSize: number, depth: number, extra: Partial<RegNetEntry> = {}): RegNetEntry {
  return { w0, wa, wm, groupSize, depth, seRatio: 0.25, ...extra };
}

const TV = { groupMinRatio: 0.9 };

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
};

const RESNETS: Record<string, Omit<ResNetSpec, 'kind'>> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet26: { block: 'bottleneck', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
  resnet200: { block: 'bottleneck', layers: [3, 24, 36, 3] },
};

export interface ZooEntry {
  name: string;
  family: 'regnetx' | 'regnety' | 'resnet';
  spec: ModelSpec;
}

export function zooNames(): string[] {
  return [...Object.keys(REGNETS), ...Object.keys(RESNETS)];
}

export function zooEntry(name: string): ZooEntry {
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
    return { name, family: spec.seRatio > 0 ? 'regnety' : 'regnetx', spec };
  }
  const s = RESNETS[name];
  if (s) return { name, family: 'resnet', spec: { kind: 'resnet', ...s } };
  throw unknownModel(name);
}

export function isZooName(name: string): boolean {
  return name in REGNETS || name in RESNETS;
}

/** Build a named model. */
export function buildModel(name: string, opts: BuildOptions = {}): Network {
  return buildFromSpec(zooEntry(name).spec, opts, name);
}

/** Build any spec (zoo or parameterised); a spec or option out of range is a UsageError naming the field. */
export function buildFromSpec(spec: ModelSpec, opts: BuildOptions = {}, name?: string): Network {
  try {
    if (spec.kind === 'regnet') return buildRegNet(spec, opts, name);
    if (spec.kind === 'anynet') return buildAnyNet(spec, opts, name);
    return buildResNet(spec, opts, name);
  } catch (e) {
    if (!(e instanceof ZodError)) throw e;
    const issue = e.issues[0]!;
    throw new UsageError(`${name ?? spec.kind}: invalid ${issue.path.join('.') || 'spec'}: ${issue.message}`);
  }
}

/** Zoo names matching a glob (`*`, `?`), in zoo order. */
export function matchZoo(pattern: string): string[] {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return zooNames().filter((n) => re.test(n));
}

function unknownModel(name: string): UsageError {
  const close = zooNames()
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
