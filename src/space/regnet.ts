/**
 * The RegNet quantized linear parameterization (Radosavovic et al. 2020, "Designing Network Design
 * Spaces", eqs. 2-4): u_j = w0 + wa*j for block j < d (eq. 2); s_j solves u_j = w0 * wm^s_j (eq. 3);
 * w_j = w0 * wm^round(s_j) (eq. 4), then quantized to a multiple of 8. Blocks of equal width form a stage;
 * the group width is then made compatible with each stage's bottleneck width. The same steps as pycls
 * `generate_regnet` + `adjust_ws_gs_comp` and timm `generate_regnet` + `adjust_widths_groups_comp`, in
 * float64 with round-half-to-even. Pure functions: no networks, no tensors.
 */
import { z } from 'zod';
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

/** The allowed values of one RegNet parameter. */
export interface ParamRule {
  /** the name in CSV columns, space files and messages */
  column: string;
  /** what the value must be, as messages say it */
  rule: string;
  ok: (v: number) => boolean;
}

/**
 * The ranges of the RegNet design space's parameters, stated once. Model specs, the describe/train/...
 * flags, sampled-configs CSVs, space files and the sampler all check against this table.
 */
export const REGNET_PARAM_RULES = {
  depth: {
    column: 'depth',
    rule: `must be an integer in [1, ${LIMITS.depth}]`,
    ok: (v: number) => Number.isInteger(v) && v >= 1 && v <= LIMITS.depth,
  },
  w0: {
    column: 'w0',
    rule: `must be a positive multiple of 8, at most ${LIMITS.width}`,
    ok: (v: number) => Number.isInteger(v) && v > 0 && v % 8 === 0 && v <= LIMITS.width,
  },
  wa: {
    column: 'wa',
    rule: `must be a number in [0, ${LIMITS.width}]`,
    ok: (v: number) => Number.isFinite(v) && v >= 0 && v <= LIMITS.width,
  },
  wm: { column: 'wm', rule: 'must be a number > 1', ok: (v: number) => Number.isFinite(v) && v > 1 },
  groupSize: {
    column: 'group_size',
    rule: `must be an integer in [1, ${LIMITS.width}]`,
    ok: (v: number) => Number.isInteger(v) && v >= 1 && v <= LIMITS.width,
  },
  bottleRatio: { column: 'bottle_ratio', rule: 'must be a number > 0', ok: (v: number) => Number.isFinite(v) && v > 0 },
  seRatio: { column: 'se_ratio', rule: 'must be a number >= 0', ok: (v: number) => Number.isFinite(v) && v >= 0 },
} as const satisfies Record<string, ParamRule>;
export type RegNetParamKey = keyof typeof REGNET_PARAM_RULES;

/** A parameter's rule as a zod number schema (model specs, CSV rows). */
export function regnetParamSchema(key: RegNetParamKey) {
  const r = REGNET_PARAM_RULES[key];
  return z.number({ error: r.rule }).refine(r.ok, r.rule);
}

/** The rule of a space-file / CSV column name, if it is a RegNet parameter. */
export function ruleForColumn(column: string): ParamRule | undefined {
  return Object.values(REGNET_PARAM_RULES).find((r) => r.column === column);
}

/** `invalid w0=20: must be a positive multiple of 8`, or undefined when `v` is allowed; `name` defaults to the column. */
export function regnetParamError(key: RegNetParamKey, v: unknown, name: string = REGNET_PARAM_RULES[key].column): string | undefined {
  const r: ParamRule = REGNET_PARAM_RULES[key];
  return typeof v === 'number' && r.ok(v) ? undefined : `invalid ${name}=${String(v)}: ${r.rule}`;
}

/** The first parameter out of range, as regnetParamError words it; undefined when all are allowed. */
export function regnetParamsError(p: RegNetParams & { seRatio?: number }): string | undefined {
  for (const key of ['depth', 'w0', 'wa', 'wm', 'groupSize'] as const) {
    const e = regnetParamError(key, p[key]);
    if (e) return e;
  }
  return (
    regnetParamError('bottleRatio', p.bottleRatio ?? 1) ?? (p.seRatio !== undefined ? regnetParamError('seRatio', p.seRatio) : undefined)
  );
}

/** Check the parameter ranges of the RegNet space; throws UsageError naming the field. */
export function validateRegNetParams(p: RegNetParams & { seRatio?: number }): void {
  const e = regnetParamsError(p);
  if (e) throw new UsageError(e);
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
