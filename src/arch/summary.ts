/** The summary of one built network that models/describe/compare print and serialise. */
import { blockWidths } from '../space/regnet.js';
import { complexity } from './complexity.js';
import type { Network } from './ir.js';

export interface NetSummary {
  model: string;
  family: string;
  res: number;
  num_classes: number;
  params: number;
  macs: number;
  flops: number;
  acts: number;
  num_stages: number;
  total_stages: number;
  depth: number;
  stage_widths: number[];
  stage_depths: number[];
  stage_group_widths: number[];
  stage_groups: number[];
  stage_bottleneck_widths: number[];
  stage_se_widths: number[];
  spec: Network['spec'];
}

export function summarize(net: Network): NetSummary {
  const c = complexity(net);
  const s = net.stages;
  let totalStages = s.length;
  if (net.spec.kind === 'regnet') {
    // total_stages = max(s_j) + 1 from the quantized rule (may differ from the distinct widths)
    totalStages = regnetTotalStages(net.spec.w0, net.spec.wa, net.spec.wm, net.spec.depth);
  }
  return {
    model: net.name,
    family: net.family,
    res: net.res[1],
    num_classes: net.numClasses,
    params: c.params,
    macs: c.macs,
    flops: c.flops,
    acts: c.acts,
    num_stages: s.length,
    total_stages: totalStages,
    depth: s.reduce((a, b) => a + b.depth, 0),
    stage_widths: s.map((x) => x.width),
    stage_depths: s.map((x) => x.depth),
    stage_group_widths: s.map((x) => x.groupWidth),
    stage_groups: s.map((x) => x.groups),
    stage_bottleneck_widths: s.map((x) => x.bottleneckWidth),
    stage_se_widths: s.map((x) => x.seWidth),
    spec: net.spec,
  };
}

function regnetTotalStages(w0: number, wa: number, wm: number, d: number): number {
  return blockWidths(w0, wa, wm, d).totalStages;
}
