/**
 * EfficientNet-B0..B7 as pytorch-image-models builds `efficientnet_b0`..`efficientnet_b7` (not the `tf_`
 * ports, which pad asymmetrically and use BN eps 1e-3), with timm's layer names so its checkpoints load:
 *
 *   conv_stem (3x3, stride 2), bn1, SiLU
 *   blocks.S.B  S = 0..6, one per B0 stage:
 *     stage 0, depthwise-separable (DS): conv_dw (k x k, groups = channels), bn1, SiLU, se, conv_pw (1x1), bn2
 *     stages 1-6, inverted residual (MBConv, expansion 6): conv_pw (1x1 to 6x), bn1, SiLU, conv_dw, bn2, SiLU,
 *       se, conv_pwl (1x1), bn3
 *     se: global average pool, se.conv_reduce (1x1, bias), SiLU, se.conv_expand (1x1, bias), sigmoid, scale;
 *       reduced width round(mid * 0.25 / expansion), i.e. a quarter of the block's INPUT channels
 *     a residual add (the IR's add node) where stride is 1 and input and output widths agree
 *   conv_head (1x1), bn2, SiLU, global average pool, classifier (linear)
 *
 * The B0 stages (repeats, kernel, stride, expansion, channels): (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40)
 * (3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320); stem 32, head 1280. Scaling (Tan & Le 2019, timm's
 * round_channels / decode_arch_def with depth_trunc 'ceil'): every width w -> makeDivisible(w * widthMult),
 * every stage's repeats r -> ceil(r * depthMult). Padding is symmetric, k // 2. No norm starts at zero
 * (timm's EfficientNet has no zero-init of the last BN).
 */
import { roundHalfEven } from '../space/round.js';
import { GraphBuilder } from './graph.js';
import type { Network, StageInfo } from './ir.js';
import { BuildOptionsSchema, EfficientNetSpecSchema, modelFamily, type BuildOptions, type EfficientNetSpec } from './spec.js';

interface StageDef {
  repeats: number;
  k: number;
  stride: number;
  expansion: number;
  channels: number;
}

/** The EfficientNet-B0 stages (timm's arch_def for `_gen_efficientnet`). */
export const EFFICIENTNET_B0_STAGES: readonly StageDef[] = [
  { repeats: 1, k: 3, stride: 1, expansion: 1, channels: 16 },
  { repeats: 2, k: 3, stride: 2, expansion: 6, channels: 24 },
  { repeats: 2, k: 5, stride: 2, expansion: 6, channels: 40 },
  { repeats: 3, k: 3, stride: 2, expansion: 6, channels: 80 },
  { repeats: 3, k: 5, stride: 1, expansion: 6, channels: 112 },
  { repeats: 4, k: 5, stride: 2, expansion: 6, channels: 192 },
  { repeats: 1, k: 3, stride: 1, expansion: 6, channels: 320 },
];
const STEM = 32;
const HEAD = 1280;
const SE_RATIO = 0.25;

/**
 * timm's make_divisible(v, 8) with round_limit 0.9: v to the nearest multiple of 8 (halves up, at least 8),
 * plus 8 more when that falls below 90% of v.
 */
export function makeDivisible(v: number, divisor = 8): number {
  let out = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

/** A width scaled by the width multiplier (timm's round_channels: make_divisible of the product). */
export function roundChannels(channels: number, widthMult: number): number {
  return makeDivisible(channels * widthMult);
}

export interface EfficientNetStage extends StageDef {
  /** output channels after width scaling */
  width: number;
}

/** The scaled stages: widths by roundChannels, repeats by ceil(r * depthMult). */
export function efficientnetStages(spec: Pick<EfficientNetSpec, 'widthMult' | 'depthMult'>): EfficientNetStage[] {
  return EFFICIENTNET_B0_STAGES.map((s) => ({
    ...s,
    repeats: Math.ceil(s.repeats * spec.depthMult),
    width: roundChannels(s.channels, spec.widthMult),
  }));
}

export type EfficientNetInput = Omit<EfficientNetSpec, 'kind'>;

export function buildEfficientNet(specIn: EfficientNetInput, opts: BuildOptions = {}, name?: string): Network {
  const spec = EfficientNetSpecSchema.parse({ ...specIn, kind: 'efficientnet' });
  const o = BuildOptionsSchema.parse(opts);
  const g = new GraphBuilder();
  const resH = o.resH ?? o.res;
  const bnAct = (n: string, v: number) => g.act('silu', g.norm('bn', n, v));
  let x = g.input([o.inChans, resH, o.res]);
  const stem = roundChannels(STEM, spec.widthMult);
  x = bnAct('bn1', g.conv('conv_stem', x, stem, 3, o.stem === 'small' ? 1 : 2));
  let cin = stem;

  const stages: StageInfo[] = [];
  const plan = efficientnetStages(spec);
  // timm's drop-path schedule for EfficientNet: rate * (block index over all blocks) / (number of blocks)
  const totalBlocks = plan.reduce((t, s) => t + s.repeats, 0);
  let blockIdx = 0;
  plan.forEach((s, si) => {
    let firstSe = 0;
    let firstMid = 0;
    for (let bi = 0; bi < s.repeats; bi++) {
      const p = `blocks.${si}.${bi}`;
      const stride = bi === 0 ? s.stride : 1;
      const input = x;
      const mid = s.expansion === 1 ? cin : cin * s.expansion;
      // timm's SE gets rd_ratio = 0.25 / expansion on the expanded width: a quarter of the block input
      const wSe = Math.max(1, roundHalfEven(mid * (SE_RATIO / s.expansion)));
      if (bi === 0) [firstSe, firstMid] = [wSe, mid];
      const se = (v: number) => {
        let z = g.gap(v);
        z = g.act('silu', g.conv(`${p}.se.conv_reduce`, z, wSe, 1, 1, 1, true));
        z = g.act('sigmoid', g.conv(`${p}.se.conv_expand`, z, mid, 1, 1, 1, true));
        return g.mul(v, z);
      };
      let y: number;
      if (s.expansion === 1) {
        y = bnAct(`${p}.bn1`, g.conv(`${p}.conv_dw`, input, cin, s.k, stride, cin));
        y = se(y);
        y = g.norm('bn', `${p}.bn2`, g.conv(`${p}.conv_pw`, y, s.width, 1));
      } else {
        y = bnAct(`${p}.bn1`, g.conv(`${p}.conv_pw`, input, mid, 1));
        y = bnAct(`${p}.bn2`, g.conv(`${p}.conv_dw`, y, mid, s.k, stride, mid));
        y = se(y);
        y = g.norm('bn', `${p}.bn3`, g.conv(`${p}.conv_pwl`, y, s.width, 1));
      }
      // residual (the IR's add node, so drop-path applies) where the block keeps shape; no act after it
      x = stride === 1 && cin === s.width ? g.add(y, input, blockIdx / totalBlocks) : y;
      cin = s.width;
      blockIdx++;
    }
    stages.push({
      name: `blocks.${si}`,
      width: s.width,
      depth: s.repeats,
      stride: s.stride,
      bottleneckWidth: firstMid,
      groupWidth: 1,
      groups: firstMid,
      seWidth: firstSe,
    });
  });
  x = bnAct('bn2', g.conv('conv_head', x, roundChannels(HEAD, spec.widthMult), 1));
  x = g.gap(x);
  const out = g.fc('classifier', x, o.numClasses);
  return {
    name: name ?? efficientnetName(spec),
    family: modelFamily(spec),
    spec,
    inChans: o.inChans,
    numClasses: o.numClasses,
    res: [resH, o.res],
    stem: o.stem,
    nodes: g.nodes,
    output: out,
    stages,
  };
}

/** A readable name for a parameterised EfficientNet, e.g. efficientnet_w1.1_d1.2. */
export function efficientnetName(s: Pick<EfficientNetSpec, 'widthMult' | 'depthMult'>): string {
  return `efficientnet_w${s.widthMult}_d${s.depthMult}`;
}
