/**
 * RegNet and AnyNet builders, timm layer names. A RegNet is an AnyNet whose stages come from the
 * quantized linear rule; both share one body builder (X block, optional SE = Y block).
 */
import { regnetStages, validateRegNetParams } from '../space/regnet.js';
import { roundHalfEven } from '../space/round.js';
import { GraphBuilder } from './graph.js';
import type { Network, StageInfo } from './ir.js';
import {
  AnyNetSpecSchema,
  BuildOptionsSchema,
  modelFamily,
  RegNetSpecSchema,
  type AnyNetSpec,
  type BuildOptions,
  type ModelSpec,
  type RegNetSpec,
} from './spec.js';

/** Resolved stage: width, depth, bottleneck width, group width and groups of its 3x3 conv. */
export interface BodyStage {
  width: number;
  depth: number;
  bottleneckWidth: number;
  groupWidth: number;
  groups: number;
}

interface BodyOptions {
  seRatio: number;
  act: 'relu' | 'silu';
  norm: 'bn' | 'gn';
  stemWidth: number;
  preact?: boolean;
  downsample?: 'conv1x1' | 'avg';
}

export type RegNetInput = Omit<
  RegNetSpec,
  'kind' | 'bottleRatio' | 'seRatio' | 'groupMinRatio' | 'act' | 'norm' | 'stemWidth' | 'preact' | 'downsample'
> &
  Partial<RegNetSpec>;

export function buildRegNet(specIn: RegNetInput, opts: BuildOptions = {}, name?: string): Network {
  validateRegNetParams(specIn); // a UsageError naming the field, before the schema (same ranges) would throw
  const spec = RegNetSpecSchema.parse({ ...specIn, kind: 'regnet' });
  const st = regnetStages(spec);
  const stages: BodyStage[] = st.widths.map((width, i) => ({
    width,
    depth: st.depths[i]!,
    bottleneckWidth: st.bottleneckWidths[i]!,
    groupWidth: st.groupWidths[i]!,
    groups: st.groups[i]!,
  }));
  return buildBody(spec, stages, spec, opts, name ?? regnetName(spec));
}

/** AnyNet stages resolve their groups like RegNet stages do: g = min(g, w_b), w_b a multiple of g. */
export function anynetStages(spec: AnyNetSpec): BodyStage[] {
  return spec.stages.map((s) => {
    const wbRaw = Math.trunc(s.width * s.bottleRatio);
    if (wbRaw < 1) throw new Error(`anynet stage width ${s.width} x bottle ratio ${s.bottleRatio} is below 1`);
    const g = Math.min(s.groupWidth, wbRaw);
    const wb = Math.max(g, g * roundHalfEven(wbRaw / g));
    const width = Math.max(1, Math.trunc(wb / s.bottleRatio));
    const wbBlock = roundHalfEven(width * s.bottleRatio);
    return { width, depth: s.depth, bottleneckWidth: wbBlock, groupWidth: g, groups: Math.max(1, Math.floor(wbBlock / g)) };
  });
}

export function buildAnyNet(
  specIn: Omit<AnyNetSpec, 'kind' | 'seRatio' | 'act' | 'norm' | 'stemWidth'> & Partial<AnyNetSpec>,
  opts: BuildOptions = {},
  name?: string,
): Network {
  const spec = AnyNetSpecSchema.parse({ ...specIn, kind: 'anynet' });
  const stages = anynetStages(spec);
  return buildBody(spec, stages, spec, opts, name ?? anynetName(spec));
}

function buildBody(spec: ModelSpec, body: BodyStage[], bo: BodyOptions, opts: BuildOptions, name: string): Network {
  const o = BuildOptionsSchema.parse(opts);
  const g = new GraphBuilder();
  const act = bo.act;
  const resH = o.resH ?? o.res;
  const preact = bo.preact ?? false;
  let x = g.input([o.inChans, resH, o.res]);
  const stemStride = o.stem === 'small' ? 1 : 2;
  if (preact) {
    // timm's preact stem is a bare conv named `stem` (norm and act come with the first block's norm1)
    x = g.conv('stem', x, bo.stemWidth, 3, stemStride);
  } else {
    x = g.conv('stem.conv', x, bo.stemWidth, 3, stemStride);
    x = g.norm(bo.norm, 'stem.bn', x);
    x = g.act(act, x);
  }

  const stages: StageInfo[] = [];
  let wIn = bo.stemWidth;
  body.forEach((s, si) => {
    const wOut = s.width;
    const wb = s.bottleneckWidth;
    let firstSe = 0;
    for (let bi = 0; bi < s.depth; bi++) {
      const p = `s${si + 1}.b${bi + 1}`;
      const stride = bi === 0 ? 2 : 1;
      const normAct = (name: string, v: number) => g.act(act, g.norm(bo.norm, name, v));
      // preact: the shortcut leaves after norm1 + act (timm's PreBottleneck), else the block input
      if (preact) x = normAct(`${p}.norm1`, x);
      const shortcut = x;
      let y: number;
      if (preact) {
        y = normAct(`${p}.norm2`, g.conv(`${p}.conv1`, x, wb, 1));
        y = g.conv(`${p}.conv2`, y, wb, 3, stride, s.groups);
      } else {
        y = normAct(`${p}.conv1.bn`, g.conv(`${p}.conv1.conv`, x, wb, 1));
        y = normAct(`${p}.conv2.bn`, g.conv(`${p}.conv2.conv`, y, wb, 3, stride, s.groups));
      }
      if (bo.seRatio > 0) {
        // SE width follows the block's INPUT width, round(w_in * se_ratio), as in pycls's BottleneckTransform
        // and timm's Bottleneck (RegNetY = RegNetX + SE, Radosavovic et al. 2020).
        const wSe = roundHalfEven(wIn * bo.seRatio);
        if (bi === 0) firstSe = wSe;
        let z = g.gap(y);
        z = g.conv(`${p}.se.fc1`, z, wSe, 1, 1, 1, true);
        z = g.act(act, z);
        z = g.conv(`${p}.se.fc2`, z, wb, 1, 1, 1, true);
        z = g.act('sigmoid', z);
        y = g.mul(y, z);
      }
      if (preact) {
        y = g.conv(`${p}.conv3`, normAct(`${p}.norm3`, y), wOut, 1);
      } else {
        y = g.conv(`${p}.conv3.conv`, y, wOut, 1);
        y = g.norm(bo.norm, `${p}.conv3.bn`, y, true);
      }
      let sc = shortcut;
      if (wIn !== wOut || stride !== 1) sc = downsample(g, bo, `${p}.downsample`, shortcut, wOut, stride);
      // the residual add is the IR's add node (drop-path applies there); preact blocks end at the add
      x = g.add(y, sc);
      if (!preact) x = g.act(act, x);
      wIn = wOut;
    }
    stages.push({
      name: `s${si + 1}`,
      width: wOut,
      depth: s.depth,
      stride: 2,
      bottleneckWidth: wb,
      groupWidth: s.groupWidth,
      groups: s.groups,
      seWidth: firstSe,
    });
  });
  // timm's preact RegNet: `final_conv` is the activation alone (no norm, no conv)
  if (preact) x = g.act(act, x);
  x = g.gap(x);
  const out = g.fc('head.fc', x, o.numClasses);
  return {
    name,
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

/**
 * The projection shortcut, timm's names: 'conv1x1' is a strided 1x1 conv (`downsample` in a preact block,
 * else `downsample.conv` + `downsample.bn`); 'avg' is `downsample.0` = 2x2 average pool (ceil mode, padding
 * excluded; absent at stride 1) then `downsample.1` = a 1x1 conv (+ BN unless preact).
 */
function downsample(g: GraphBuilder, bo: BodyOptions, p: string, x: number, cout: number, stride: number): number {
  const preact = bo.preact ?? false;
  let name = p;
  if ((bo.downsample ?? 'conv1x1') === 'avg') {
    if (stride > 1) x = g.avgpool(x, 2, stride, { ceil: true, countIncludePad: false });
    name = `${p}.1`;
    stride = 1;
  }
  if (preact) return g.conv(name, x, cout, 1, stride);
  return g.norm(bo.norm, `${name}.bn`, g.conv(`${name}.conv`, x, cout, 1, stride));
}

/** A readable name for a parameterised RegNet, e.g. regnet_d13_w24_wa36.44_wm2.49_g8. */
export function regnetName(s: RegNetSpec): string {
  let n = `regnet_d${s.depth}_w${s.w0}_wa${s.wa}_wm${s.wm}_g${s.groupSize}`;
  if (s.bottleRatio !== 1) n += `_b${s.bottleRatio}`;
  if (s.seRatio > 0) n += `_se${s.seRatio}`;
  return n;
}

export function anynetName(s: AnyNetSpec): string {
  return (
    'anynet_' +
    s.stages.map((t) => `d${t.depth}w${t.width}b${t.bottleRatio}g${t.groupWidth}`).join('_') +
    (s.seRatio > 0 ? `_se${s.seRatio}` : '')
  );
}
