/**
 * The RegNet quantized linear parameterization (Radosavovic et al. 2020, "Designing Network Design
 * Spaces", eqs. 2-4): u_j = w0 + wa*j for block j < d (eq. 2); s_j solves u_j = w0 * wm^s_j (eq. 3);
 * w_j = w0 * wm^round(s_j) (eq. 4), then quantized to a multiple of 8. Blocks of equal width form a stage;
 * the group width is then made compatible with each stage's bottleneck width. The same steps as pycls
 * `generate_regnet` + `adjust_ws_gs_comp` and timm `generate_regnet` + `adjust_widths_groups_comp`, in
 * float64 with round-half-to-even. Pure functions: no networks, no tensors.
 */
import { UsageError } from '../util/errors.js';
import { LIMITS } from '../util/limits.js';
import { makeDivisible, roundHalfEven } from './round.js';

export interface RegNetParams {
  depth: number;
  w0: number;
  wa: number;
  wm: number;
  groupSize: number;
  bottleRatio?: number;
  /** torchvision-style group rounding when > 0 (timm `_tv` models) */
  groupMinRatio?: number;
}

export interface BlockWidths {
  /** quantized width of every block */
  widths: number[];
  /** stage index s_j of every block */
  exps: number[];
  numStages: number;
  totalStages: number;
}

export interface RegNetStages {
  widths: number[];
  depths: number[];
  /** group width after the compatibility step */
  groupWidths: number[];
  /** groups of each stage's 3x3 conv */
  groups: number[];
  bottleneckWidths: number[];
  numStages: number;
  totalStages: number;
  /** per-block widths before the group step */
  blockWidths: number[];
}

/** Check the parameter ranges of the RegNet space; throws UsageError naming the field. */
export function validateRegNetParams(p: RegNetParams & { seRatio?: number }): void {
  const bad = (field: string, rule: string, v: unknown) => {
    throw new UsageError(`invalid ${field}=${String(v)}: ${rule}`);
  };
  if (!Number.isInteger(p.depth) || p.depth < 1 || p.depth > LIMITS.depth) bad('depth', `must be an integer in [1, ${LIMITS.depth}]`, p.depth);
  if (!Number.isInteger(p.w0) || p.w0 <= 0 || p.w0 % 8 !== 0 || p.w0 > LIMITS.width) bad('w0', `must be a positive multiple of 8, at most ${LIMITS.width}`, p.w0);
  if (!Number.isFinite(p.wa) || p.wa < 0) bad('wa', 'must be a number >= 0', p.wa);
  if (!Number.isFinite(p.wm) || p.wm <= 1) bad('wm', 'must be a number > 1', p.wm);
  if (!Number.isInteger(p.groupSize) || p.groupSize < 1 || p.groupSize > LIMITS.width) bad('group_size', `must be an integer in [1, ${LIMITS.width}]`, p.groupSize);
  const b = p.bottleRatio ?? 1;
  if (!Number.isFinite(b) || b <= 0) bad('bottle_ratio', 'must be a number > 0', b);
  if (p.seRatio !== undefined && (!Number.isFinite(p.seRatio) || p.seRatio < 0)) {
    bad('se_ratio', 'must be a number >= 0', p.seRatio);
  }
}

/** Per-block quantized widths: u_j = w0 + wa*j, s_j = round(log(u_j/w0)/log(wm)), w_j = 8*round(w0*wm^s_j/8). */
export function blockWidths(w0: number, wa: number, wm: number, depth: number, q = 8): BlockWidths {
  const widths = new Array<number>(depth);
  const exps = new Array<number>(depth);
  const logWm = Math.log(wm);
  let maxExp = 0;
  const distinct = new Set<number>();
  for (let j = 0; j < depth; j++) {
    const u = j * wa + w0;
    const s = roundHalfEven(Math.log(u / w0) / logWm);
    const w = roundHalfEven((w0 * Math.pow(wm, s)) / q) * q;
    exps[j] = s;
    widths[j] = w;
    if (s > maxExp) maxExp = s;
    distinct.add(w);
  }
  return { widths, exps, numStages: distinct.size, totalStages: maxExp + 1 };
}

/** Stage widths and depths: runs of equal widths (sorted distinct values, as numpy.unique does). */
export function splitStages(widths: number[]): { widths: number[]; depths: number[] } {
  const counts = new Map<number, number>();
  for (const w of widths) counts.set(w, (counts.get(w) ?? 0) + 1);
  const ws = [...counts.keys()].sort((a, b) => a - b);
  return { widths: ws, depths: ws.map((w) => counts.get(w)!) };
}

/**
 * Group-width compatibility for one stage, as pycls `adjust_ws_gs_comp` / timm `adjust_widths_groups_comp`:
 * the group width is capped at the bottleneck width, the bottleneck width rounded to a multiple of it.
 */
export function adjustWidthGroup(
  width: number,
  bottleRatio: number,
  groupSize: number,
  groupMinRatio = 0,
): { width: number; groupWidth: number; bottleneckWidth: number } {
  let wb = Math.trunc(width * bottleRatio);
  const g = Math.min(groupSize, wb);
  wb = groupMinRatio > 0 ? makeDivisible(wb, g, groupMinRatio) : g * roundHalfEven(wb / g);
  return { width: Math.trunc(wb / bottleRatio), groupWidth: g, bottleneckWidth: wb };
}

/** Everything the builder needs: per-stage widths, depths and groups of a RegNet. */
export function regnetStages(p: RegNetParams): RegNetStages {
  validateRegNetParams(p);
  const b = p.bottleRatio ?? 1;
  const bw = blockWidths(p.w0, p.wa, p.wm, p.depth);
  const st = splitStages(bw.widths);
  const widths: number[] = [];
  const groupWidths: number[] = [];
  const groups: number[] = [];
  const bottleneckWidths: number[] = [];
  for (const w of st.widths) {
    const a = adjustWidthGroup(w, b, p.groupSize, p.groupMinRatio ?? 0);
    widths.push(a.width);
    groupWidths.push(a.groupWidth);
    // The block recomputes its bottleneck from the adjusted width, as the reference does.
    const wbBlock = roundHalfEven(a.width * b);
    bottleneckWidths.push(wbBlock);
    groups.push(Math.floor(wbBlock / a.groupWidth));
  }
  return {
    widths,
    depths: st.depths,
    groupWidths,
    groups,
    bottleneckWidths,
    numStages: bw.numStages,
    totalStages: bw.totalStages,
    blockWidths: bw.widths,
  };
}
