/** RegNetX / RegNetY builder (any valid parameters, any SE and bottleneck ratio), timm layer names. */
import { regnetStages } from '../space/regnet.js';
import { roundHalfEven } from '../space/round.js';
import { GraphBuilder } from './graph.js';
import type { Network, StageInfo } from './ir.js';
import { BuildOptionsSchema, type BuildOptions, type RegNetSpec, RegNetSpecSchema } from './spec.js';

export function buildRegNet(specIn: Partial<RegNetSpec> & Omit<RegNetSpec, 'kind' | 'bottleRatio' | 'seRatio' | 'groupMinRatio' | 'act' | 'norm' | 'stemWidth'>, opts: BuildOptions = {}, name?: string): Network {
  const spec = RegNetSpecSchema.parse({ ...specIn, kind: 'regnet' });
  const o = BuildOptionsSchema.parse(opts);
  const st = regnetStages(spec);
  const g = new GraphBuilder();
  const act = spec.act;
  const resH = o.resH ?? o.res;
  let x = g.input([o.inChans, resH, o.res]);
  x = g.conv('stem.conv', x, spec.stemWidth, 3, o.stem === 'small' ? 1 : 2);
  x = g.norm(spec.norm, 'stem.bn', x);
  x = g.act(act, x);

  const stages: StageInfo[] = [];
  let wIn = spec.stemWidth;
  st.widths.forEach((wOut, si) => {
    const wb = st.bottleneckWidths[si]!;
    const gw = st.groupWidths[si]!;
    const groups = st.groups[si]!;
    let firstSe = 0;
    for (let bi = 0; bi < st.depths[si]!; bi++) {
      const p = `s${si + 1}.b${bi + 1}`;
      const stride = bi === 0 ? 2 : 1;
      const shortcut = x;
      let y = g.conv(`${p}.conv1.conv`, x, wb, 1);
      y = g.norm(spec.norm, `${p}.conv1.bn`, y);
      y = g.act(act, y);
      y = g.conv(`${p}.conv2.conv`, y, wb, 3, stride, groups);
      y = g.norm(spec.norm, `${p}.conv2.bn`, y);
      y = g.act(act, y);
      if (spec.seRatio > 0) {
        // SE width follows the block's INPUT width (spec section 3).
        const wSe = roundHalfEven(wIn * spec.seRatio);
        if (bi === 0) firstSe = wSe;
        let s = g.gap(y);
        s = g.conv(`${p}.se.fc1`, s, wSe, 1, 1, 1, true);
        s = g.act(act, s);
        s = g.conv(`${p}.se.fc2`, s, wb, 1, 1, 1, true);
        s = g.act('sigmoid', s);
        y = g.mul(y, s);
      }
      y = g.conv(`${p}.conv3.conv`, y, wOut, 1);
      y = g.norm(spec.norm, `${p}.conv3.bn`, y, true);
      let sc = shortcut;
      if (wIn !== wOut || stride !== 1) {
        sc = g.conv(`${p}.downsample.conv`, shortcut, wOut, 1, stride);
        sc = g.norm(spec.norm, `${p}.downsample.bn`, sc);
      }
      x = g.act(act, g.add(y, sc));
      wIn = wOut;
    }
    stages.push({ name: `s${si + 1}`, width: wOut, depth: st.depths[si]!, stride: 2, bottleneckWidth: wb, groupWidth: gw, groups, seWidth: firstSe });
  });
  x = g.gap(x);
  const out = g.fc('head.fc', x, o.numClasses);
  const family = spec.seRatio > 0 ? 'regnety' : spec.bottleRatio === 1 ? 'regnetx' : 'regnet';
  return {
    name: name ?? regnetName(spec),
    family,
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

/** A readable name for a parameterised RegNet, e.g. regnet_d13_w24_wa36.44_wm2.49_g8. */
export function regnetName(s: RegNetSpec): string {
  let n = `regnet_d${s.depth}_w${s.w0}_wa${s.wa}_wm${s.wm}_g${s.groupSize}`;
  if (s.bottleRatio !== 1) n += `_b${s.bottleRatio}`;
  if (s.seRatio > 0) n += `_se${s.seRatio}`;
  return n;
}
