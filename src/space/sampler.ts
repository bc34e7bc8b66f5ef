/**
 * Seeded sampling from a design space, as the design-space statistics of Radosavovic et al. 2020 need it
 * (n models drawn within a complexity regime): draw parameters, quantize them into stages (eqs. 2-4, see
 * regnet.ts), reject configs that break the stage rule or the complexity ranges, drop architectural
 * duplicates.
 * The same space and seed always give the same samples in the same order.
 */
import { UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { bodyComplexity, type Complexity, type FastStage } from './complexity-fast.js';
import { compileDist } from './dist.js';
import { adjustWidthGroup, REGNET_PARAM_RULES as R } from './regnet.js';
import { roundHalfEven } from './round.js';
import type { AnyNetSpace, RegNetSpace, Space } from './space-config.js';

export interface Sample {
  id: number;
  kind: 'regnet' | 'anynet';
  /** RegNet parameters (NaN for AnyNet samples) */
  depth: number;
  w0: number;
  wa: number;
  wm: number;
  group_size: number;
  bottle_ratio: number;
  se_ratio: number;
  num_stages: number;
  stage_widths: number[];
  stage_depths: number[];
  stage_group_widths: number[];
  /** per-stage bottleneck ratios (AnyNet; all equal for RegNet) */
  stage_bottle_ratios: number[];
  params: number;
  flops: number;
  acts: number;
}

export interface SampleOptions {
  n: number;
  seed: number;
  /** overrides of the space's constraints and measuring conditions */
  flops?: [number, number];
  params?: [number, number];
  acts?: [number, number];
  res?: number;
  numClasses?: number;
  stem?: 'imagenet' | 'small';
  /** bound on raw draws before giving up (default max(100000, 5000 * n)) */
  maxDraws?: number;
  /** when maxDraws runs out with at least one sample, return what was found instead of failing */
  allowFewer?: boolean;
}

export interface SampleReport {
  samples: Sample[];
  draws: number;
  rejectedStages: number;
  rejectedRange: number;
  duplicates: number;
}

/** Draws between two turns of the event loop in sampleSpaceAsync (a few milliseconds of work). */
const DRAWS_PER_TURN = 4096;

export function sampleSpace(space: Space, opts: SampleOptions): SampleReport {
  const sampling = samplingSteps(space, opts);
  for (;;) {
    const step = sampling.next();
    if (step.done) return step.value;
  }
}

/**
 * sampleSpace that gives the event loop a turn every DRAWS_PER_TURN draws, so Ctrl-C and SIGTERM
 * handlers run during a long sampling; resolves to undefined once `signal` is aborted.
 */
export async function sampleSpaceAsync(
  space: Space,
  opts: SampleOptions & { signal?: AbortSignal; onProgress?: (soFar: Readonly<SampleReport>) => void },
): Promise<SampleReport | undefined> {
  const sampling = samplingSteps(space, opts);
  for (;;) {
    if (opts.signal?.aborted) return undefined;
    const step = sampling.next();
    if (step.done) return step.value;
    opts.onProgress?.(step.value);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The sampling loop; it pauses (yields the report so far) every DRAWS_PER_TURN draws and returns the report. */
function* samplingSteps(space: Space, opts: SampleOptions): Generator<SampleReport, SampleReport> {
  const rng = Rng.derive(opts.seed, `sample:${space.name}`);
  const ranges = {
    flops: opts.flops ?? space.constraints.flops,
    params: opts.params ?? space.constraints.params,
    acts: opts.acts ?? space.constraints.acts,
  };
  const fast = {
    res: opts.res ?? space.res,
    numClasses: opts.numClasses ?? space.num_classes,
    inChans: space.in_chans,
    stem: opts.stem ?? space.stem,
    stemWidth: 32,
  };
  const maxDraws = opts.maxDraws ?? Math.max(100000, 5000 * opts.n);
  const seen = new Set<string>();
  const drawers = compileSpace(space);
  const report: SampleReport = { samples: [], draws: 0, rejectedStages: 0, rejectedRange: 0, duplicates: 0 };
  const inRange = (v: number, r?: [number, number]) => !r || (v >= r[0] && v <= r[1]);

  while (report.samples.length < opts.n) {
    if (report.draws >= maxDraws) {
      if (opts.allowFewer && report.samples.length > 0) break;
      throw new UsageError(`${shortfall(report, opts.n)}: widen the ranges or lower --n`);
    }
    report.draws++;
    if (report.draws % DRAWS_PER_TURN === 0) yield report;
    const candidate = space.kind === 'regnet' ? drawRegNet(space, drawers, rng) : drawAnyNet(space, drawers, rng);
    if (!candidate) {
      report.rejectedStages++;
      continue;
    }
    const measured: Complexity = bodyComplexity(candidate.stages, { ...fast, seRatio: candidate.se_ratio });
    if (!inRange(measured.flops, ranges.flops) || !inRange(measured.params, ranges.params) || !inRange(measured.acts, ranges.acts)) {
      report.rejectedRange++;
      continue;
    }
    const key = architectureKey(candidate);
    if (seen.has(key)) {
      report.duplicates++;
      continue;
    }
    seen.add(key);
    report.samples.push(toSample(report.samples.length, space.kind, candidate, measured));
  }
  return report;
}

/** `only K of --n N samples found in D draws (why the others were rejected)`. */
export function shortfall(report: SampleReport, n: number): string {
  return (
    `only ${report.samples.length} of --n ${n} samples found in ${report.draws} draws ` +
    `(${report.rejectedStages} broke the stage rule, ${report.rejectedRange} fell outside the flops/params/acts ranges, ` +
    `${report.duplicates} duplicates)`
  );
}

/** What makes two candidates the same network: stage widths, depths, group widths, bottlenecks and SE. */
function architectureKey(candidate: Candidate): string {
  const widths = candidate.stages.map((stage) => stage.width);
  const depths = candidate.stages.map((stage) => stage.depth);
  return `${widths.join('-')}|${depths.join('-')}|${candidate.groupWidths.join('-')}|${candidate.stageBottle.join('-')}|${candidate.se_ratio}`;
}

function toSample(id: number, kind: Space['kind'], candidate: Candidate, measured: Complexity): Sample {
  const widths = candidate.stages.map((stage) => stage.width);
  return {
    id,
    kind,
    depth: candidate.depth,
    w0: candidate.w0,
    wa: candidate.wa,
    wm: candidate.wm,
    group_size: candidate.group_size,
    bottle_ratio: candidate.bottle_ratio,
    se_ratio: candidate.se_ratio,
    num_stages: widths.length,
    stage_widths: widths,
    stage_depths: candidate.stages.map((stage) => stage.depth),
    stage_group_widths: candidate.groupWidths,
    stage_bottle_ratios: candidate.stageBottle,
    params: measured.params,
    flops: measured.flops,
    acts: measured.acts,
  };
}

type Drawers = Record<string, (rng: Rng) => number>;

function compileSpace(space: Space): Drawers {
  const dists = space.kind === 'regnet' ? space.params : { ...space.stage, se_ratio: space.se_ratio };
  return Object.fromEntries(Object.entries(dists).map(([k, d]) => [k, compileDist(d)]));
}

interface Candidate {
  depth: number;
  w0: number;
  wa: number;
  wm: number;
  group_size: number;
  bottle_ratio: number;
  se_ratio: number;
  stages: FastStage[];
  groupWidths: number[];
  stageBottle: number[];
}

function drawRegNet(space: RegNetSpace, p: Drawers, rng: Rng): Candidate | null {
  // The width parameters come first: three quarters of draws fail the stage rule, and those need
  // no group, bottleneck or SE draw (the stream stays deterministic for a seed either way).
  const depth = p.depth!(rng);
  const w0 = p.w0!(rng);
  const wa = p.wa!(rng);
  const wm = p.wm!(rng);
  if (!(R.depth.ok(depth) && R.w0.ok(w0) && R.wa.ok(wa) && R.wm.ok(wm))) return null;
  // Hot path: the same float operations as blockWidths(), without per-block arrays.
  // The stage index is monotone in j, so the last block tells total_stages at once.
  const logWm = Math.log(wm);
  const want = space.num_stages;
  const sLast = roundHalfEven(Math.log(((depth - 1) * wa + w0) / w0) / logWm);
  if (sLast + 1 !== want) return null;
  const gs = p.group_size!(rng);
  const b = p.bottle_ratio!(rng);
  const se = p.se_ratio!(rng);
  if (!(R.groupSize.ok(gs) && R.bottleRatio.ok(b) && R.seRatio.ok(se))) return null;
  const counts = new Array<number>(want).fill(0);
  for (let j = 0; j < depth; j++) counts[roundHalfEven(Math.log((j * wa + w0) / w0) / logWm)]!++;
  const stages: FastStage[] = [];
  const groupWidths: number[] = [];
  let prev = -1;
  for (let s = 0; s < want; s++) {
    if (counts[s] === 0) return null; // a skipped stage index: num_stages < total_stages
    const raw = roundHalfEven((w0 * Math.pow(wm, s)) / 8) * 8;
    if (raw === prev) return null; // two indices share a width: stages merge
    prev = raw;
    const a = adjustWidthGroup(raw, b, gs);
    const wbBlock = roundHalfEven(a.width * b);
    stages.push({ width: a.width, depth: counts[s]!, bottleneckWidth: wbBlock, groups: Math.floor(wbBlock / a.groupWidth) });
    groupWidths.push(a.groupWidth);
  }
  return { depth, w0, wa, wm, group_size: gs, bottle_ratio: b, se_ratio: se, stages, groupWidths, stageBottle: stages.map(() => b) };
}

function drawAnyNet(space: AnyNetSpace, p: Drawers, rng: Rng): Candidate | null {
  const stages: FastStage[] = [];
  const groupWidths: number[] = [];
  const stageBottle: number[] = [];
  let total = 0;
  for (let i = 0; i < space.num_stages; i++) {
    const depth = p.depth!(rng);
    const width = p.width!(rng);
    const b = p.bottle_ratio!(rng);
    const g = p.group_width!(rng);
    const wbRaw = Math.trunc(width * b);
    if (depth < 1 || width < 1 || wbRaw < 1 || g < 1) return null;
    const gw = Math.min(g, wbRaw);
    const wb = Math.max(gw, gw * roundHalfEven(wbRaw / gw));
    const w = Math.trunc(wb / b);
    if (w < 1) return null;
    const wbBlock = roundHalfEven(w * b);
    if (wbBlock % gw !== 0) return null;
    stages.push({ width: w, depth, bottleneckWidth: wbBlock, groups: wbBlock / gw });
    groupWidths.push(gw);
    stageBottle.push(b);
    total += depth;
  }
  const se = p.se_ratio!(rng);
  return { depth: total, w0: NaN, wa: NaN, wm: NaN, group_size: NaN, bottle_ratio: NaN, se_ratio: se, stages, groupWidths, stageBottle };
}
