/**
 * Quantized-linear fit of per-block widths (the fit of Radosavovic et al. 2020 to eqs. 2-4): with the
 * depth d fixed, find (w0, wa, wm) whose quantized widths (src/space/regnet.ts blockWidths) minimise
 *     e_fit = mean_j |log(w_fit_j / w_j)|.
 * The objective is piecewise constant in (wa, wm), so gradients are useless: a coarse grid (w0 a multiple
 * of 8 within the widths' range, log-spaced wa and wm) is followed by zoomed local grids around the best
 * candidates. Everything is deterministic.
 */
import { buildModel } from '../arch/zoo.js';
import { blockWidths } from '../space/regnet.js';
import { roundHalfEven } from '../space/round.js';
import { UsageError } from '../util/errors.js';

export interface ContinuousFit {
  w0: number;
  wa: number;
  /** mean |log((w0 + wa*j) / w_j)| of the best un-quantized line */
  e_fit: number;
}

export interface RegNetFit {
  w0: number;
  wa: number;
  wm: number;
  depth: number;
  e_fit: number;
  /** quantized per-block widths implied by (w0, wa, wm, depth) */
  fitted_widths: number[];
  /** the per-block widths that were fitted */
  widths: number[];
  /** stages (distinct widths) of the fit */
  num_stages: number;
  /** mean |log((w0 + wa*j) / w_j)| of the fitted parameters' continuous widths u_j, before quantizing */
  e_cont: number;
  /** best straight line u_j = w0 + wa*j without quantization */
  continuous: ContinuousFit;
}

export interface FitOptions {
  /** points of the coarse wa and wm grids (defaults 64 and 48) */
  waSteps?: number;
  wmSteps?: number;
  /** range searched for wm (default [1.2, 4]) */
  wmRange?: [number, number];
}

/** e_fit of given parameters against widths, through the reference blockWidths. */
export function fitError(widths: readonly number[], w0: number, wa: number, wm: number): number {
  const fw = blockWidths(w0, wa, wm, widths.length).widths;
  let s = 0;
  for (let j = 0; j < widths.length; j++) s += Math.abs(Math.log(fw[j]! / widths[j]!));
  return s / widths.length;
}

function checkWidths(widths: readonly number[]): void {
  if (widths.length === 0) throw new UsageError('widths: need at least one per-block width');
  widths.forEach((w, j) => {
    if (!Number.isFinite(w) || w <= 0) throw new UsageError(`widths: block ${j} width '${w}' must be a positive number`);
  });
}

function logSpace(lo: number, hi: number, n: number): number[] {
  if (n <= 1 || hi <= lo) return [lo];
  const a = Math.log(lo);
  const b = Math.log(hi);
  return Array.from({ length: n }, (_, i) => Math.exp(a + ((b - a) * i) / (n - 1)));
}

/**
 * Fast evaluator of the quantized objective. It repeats blockWidths' float operations exactly
 * (same expressions, same order), so its widths equal the reference ones; logs are cached per stage.
 */
class Objective {
  private readonly logW: Float64Array;
  private readonly L: Float64Array;
  evals = 0;

  constructor(readonly widths: readonly number[]) {
    this.logW = Float64Array.from(widths, (w) => Math.log(w));
    this.L = new Float64Array(widths.length);
  }

  /** Fill L_j = log(u_j / w0) for one (w0, wa). */
  setLine(w0: number, wa: number): void {
    for (let j = 0; j < this.L.length; j++) this.L[j] = Math.log((j * wa + w0) / w0);
  }

  /** Mean |log w_fit - log w| for the line set by setLine and this wm; stops early past `bound`. */
  evalWm(w0: number, wm: number, bound = Infinity): number {
    this.evals++;
    const logWm = Math.log(wm);
    const d = this.L.length;
    const limit = bound * d;
    let cacheS = -1;
    let cacheLog = 0;
    let s = 0;
    for (let j = 0; j < d; j++) {
      const sj = roundHalfEven(this.L[j]! / logWm);
      if (sj !== cacheS) {
        cacheS = sj;
        cacheLog = Math.log(roundHalfEven((w0 * Math.pow(wm, sj)) / 8) * 8);
      }
      s += Math.abs(cacheLog - this.logW[j]!);
      if (s > limit) return Infinity;
    }
    return s / d;
  }

  eval(w0: number, wa: number, wm: number, bound = Infinity): number {
    this.setLine(w0, wa);
    return this.evalWm(w0, wm, bound);
  }
}

interface Cand {
  w0: number;
  wa: number;
  wm: number;
  e: number;
}

/** Keep the k best distinct candidates, ties broken by search order (first found wins). */
function pushTop(top: Cand[], c: Cand, k: number): void {
  if (top.length >= k && c.e >= top[top.length - 1]!.e) return;
  let i = top.length;
  while (i > 0 && top[i - 1]!.e > c.e) i--;
  top.splice(i, 0, c);
  if (top.length > k) top.pop();
}

/** The coarse search grids, and the log-step between neighbouring wa and wm values (the first zoom's reach). */
interface SearchGrids {
  w0: number[];
  /** spacing of the w0 grid: 8, or a multiple of 8 when the width range is huge */
  w0Step: number;
  wa: number[];
  wm: number[];
  waLogStep: number;
  wmLogStep: number;
}

/** Candidates kept from the coarse grid for the local search. */
const CANDIDATES_REFINED = 8;

/** Fit (w0, wa, wm) to per-block widths; depth = widths.length. */
export function fitRegNet(widthsIn: readonly number[], opts: FitOptions = {}): RegNetFit {
  checkWidths(widthsIn);
  const widths = [...widthsIn];
  const objective = new Objective(widths);
  const grids = searchGrids(widths, opts);
  const candidates = coarseSearch(objective, grids);
  let best = candidates[0]!;
  for (const start of candidates) {
    const refined = refine(objective, grids, start);
    if (refined.e < best.e) best = refined;
  }
  // Prefer readable numbers (wa to 0.1 or 0.01, wm to 0.01 or 0.001, as published tables give them) when
  // they fit exactly as well: scan rounded values nearest the optimum first.
  best = readable(objective, best);
  return fitResult(widths, best);
}

function searchGrids(widths: readonly number[], opts: FitOptions): SearchGrids {
  const depth = widths.length;
  const minWidth = Math.min(...widths);
  const maxWidth = Math.max(...widths);
  // w0 is the first fitted width: multiples of 8 from half the smallest width up to the largest (thinned
  // when the range is huge; the local search then walks w0 in steps of 8)
  const w0Lo = Math.max(8, 8 * Math.floor(minWidth / 16));
  const w0Hi = Math.max(w0Lo, 8 * Math.ceil(maxWidth / 8));
  const span = (w0Hi - w0Lo) / 8 + 1;
  const w0Step = 8 * Math.max(1, Math.ceil(span / 160));
  const w0Grid: number[] = [];
  for (let w0 = w0Lo; w0 <= w0Hi; w0 += w0Step) w0Grid.push(w0);
  const first = 8 * Math.max(1, roundHalfEven(widths[0]! / 8));
  if (!w0Grid.includes(first)) w0Grid.push(first);

  const waHi = Math.max(1, (4 * maxWidth) / Math.max(1, depth - 1));
  const waGrid = [0, ...logSpace(Math.max(0.05, waHi / 2000), waHi, opts.waSteps ?? 64)];
  const [wmLo, wmHi] = opts.wmRange ?? [1.2, 4];
  const wmGrid = logSpace(wmLo, wmHi, opts.wmSteps ?? 48);
  return {
    w0: w0Grid,
    w0Step,
    wa: waGrid,
    wm: wmGrid,
    waLogStep: Math.log(waGrid[2]! / waGrid[1]!),
    wmLogStep: Math.log(wmGrid[1]! / wmGrid[0]!),
  };
}

/** The best candidates of the full coarse grid, best first. */
function coarseSearch(objective: Objective, grids: SearchGrids): Cand[] {
  const top: Cand[] = [];
  for (const w0 of grids.w0) {
    for (const wa of grids.wa) {
      objective.setLine(w0, wa);
      for (const wm of grids.wm) {
        const bound = top.length >= CANDIDATES_REFINED ? top[CANDIDATES_REFINED - 1]!.e : Infinity;
        const error = objective.evalWm(w0, wm, bound);
        if (error < bound) pushTop(top, { w0, wa, wm, e: error }, CANDIDATES_REFINED);
      }
    }
  }
  return top;
}

/** Zoomed local grids around a candidate: w0 +-8, wa and wm over +-1 coarse step, shrinking. */
function refine(objective: Objective, grids: SearchGrids, start: Cand): Cand {
  let current = { ...start };
  let waLogReach = grids.waLogStep;
  let wmLogReach = grids.wmLogStep;
  for (let round = 0; round < 6 && current.e > 0; round++) {
    const next = { ...current };
    const w0Reach = round === 0 ? grids.w0Step : 8;
    for (let dw = -w0Reach; dw <= w0Reach; dw += 8) {
      const w0 = current.w0 + dw;
      if (w0 < 8) continue;
      const waValues =
        current.wa === 0
          ? [0, ...logSpace(grids.wa[1]! / 4, grids.wa[1]!, 9)]
          : logSpace(current.wa * Math.exp(-waLogReach), current.wa * Math.exp(waLogReach), 17);
      for (const wa of waValues) {
        objective.setLine(w0, wa);
        for (const wm of logSpace(Math.max(1.0001, current.wm * Math.exp(-wmLogReach)), current.wm * Math.exp(wmLogReach), 17)) {
          const error = objective.evalWm(w0, wm, next.e);
          if (error < next.e) Object.assign(next, { w0, wa, wm, e: error });
        }
      }
    }
    current = next;
    waLogReach /= 4;
    wmLogReach /= 4;
  }
  return current;
}

function fitResult(widths: number[], best: Cand): RegNetFit {
  const depth = widths.length;
  const fitted = blockWidths(best.w0, best.wa, best.wm, depth);
  let continuousError = 0;
  for (let j = 0; j < depth; j++) continuousError += Math.abs(Math.log((best.w0 + best.wa * j) / widths[j]!));
  return {
    w0: best.w0,
    wa: best.wa,
    wm: best.wm,
    depth,
    e_fit: fitError(widths, best.w0, best.wa, best.wm),
    fitted_widths: fitted.widths,
    widths,
    num_stages: fitted.numStages,
    e_cont: continuousError / depth,
    continuous: fitContinuous(widths),
  };
}

function readable(obj: Objective, best: Cand): Cand {
  for (const [qa, qm, r] of [
    [10, 100, 3],
    [100, 1000, 12],
  ] as const) {
    const a0 = Math.round(best.wa * qa);
    const m0 = Math.round(best.wm * qm);
    const offs = Array.from({ length: 2 * r + 1 }, (_, i) => i - r).sort((x, y) => Math.abs(x) - Math.abs(y) || x - y);
    const tries: Array<[number, number]> = [];
    for (const da of offs) for (const dm of offs) tries.push([da, dm]);
    tries.sort((x, y) => Math.abs(x[0]) + Math.abs(x[1]) - (Math.abs(y[0]) + Math.abs(y[1])));
    for (const [da, dm] of tries) {
      const wa = (a0 + da) / qa;
      const wm = (m0 + dm) / qm;
      if (wa < 0 || wm <= 1 || (best.wa === 0 && wa !== 0)) continue;
      const e = obj.eval(best.w0, wa, wm, best.e + 1e-12);
      if (e <= best.e) return { w0: best.w0, wa, wm, e };
    }
  }
  return best;
}

/** Best straight line u_j = w0 + wa*j (w0 > 0, wa >= 0) in mean |log(u_j / w_j)|, by zoomed grids. */
export function fitContinuous(widthsIn: readonly number[]): ContinuousFit {
  checkWidths(widthsIn);
  const widths = [...widthsIn];
  const d = widths.length;
  const err = (w0: number, wa: number) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += Math.abs(Math.log((w0 + wa * j) / widths[j]!));
    return s / d;
  };
  const minW = Math.min(...widths);
  const maxW = Math.max(...widths);
  let best = { w0: minW, wa: 0, e: err(minW, 0) };
  const waHi = Math.max(1, (4 * maxW) / Math.max(1, d - 1));
  for (const w0 of logSpace(minW / 4, maxW, 80)) {
    for (const wa of [0, ...logSpace(waHi / 2000, waHi, 80)]) {
      const e = err(w0, wa);
      if (e < best.e) best = { w0, wa, e };
    }
  }
  let s0 = Math.log(maxW / (minW / 4)) / 79;
  let sa = Math.log(2000) / 79;
  for (let round = 0; round < 12; round++) {
    const c = { ...best };
    for (const w0 of logSpace(c.w0 * Math.exp(-s0), c.w0 * Math.exp(s0), 11)) {
      const was = c.wa === 0 ? [0, ...logSpace(waHi / 8000, waHi / 2000, 5)] : logSpace(c.wa * Math.exp(-sa), c.wa * Math.exp(sa), 11);
      for (const wa of was) {
        const e = err(w0, wa);
        if (e < best.e) best = { w0, wa, e };
      }
    }
    s0 /= 3;
    sa /= 3;
  }
  return { w0: best.w0, wa: best.wa, e_fit: best.e };
}

/** Per-block output widths of a zoo model: each stage's width repeated by its depth. */
export function modelBlockWidths(name: string): number[] {
  const net = buildModel(name);
  const out: number[] = [];
  for (const s of net.stages) for (let i = 0; i < s.depth; i++) out.push(s.width);
  return out;
}

/** Parse `48,48,96` or `48x2,96x4` (WIDTHxCOUNT) into per-block widths. */
/** Blocks a width list may expand to (as `regnet fit --depth` allows). */
const MAX_BLOCKS = 10000;

export function parseWidthList(text: string, field = '--widths'): number[] {
  const out: number[] = [];
  for (const tok of text.split(/[,\s]+/).filter((t) => t !== '')) {
    const m = /^(\d+(?:\.\d+)?)(?:[xX*](\d+))?$/.exec(tok);
    if (!m) throw new UsageError(`invalid ${field} entry '${tok}': expected positive widths such as 48,48,96 or 48x2,96x4`);
    const w = Number(m[1]);
    const n = m[2] === undefined ? 1 : Number(m[2]);
    if (!(w > 0) || n < 1 || n > MAX_BLOCKS)
      throw new UsageError(`invalid ${field} entry '${tok}': width and count must be positive (count at most ${MAX_BLOCKS})`);
    if (out.length + n > MAX_BLOCKS) throw new UsageError(`${field}: ${out.length + n} blocks, more than the limit of ${MAX_BLOCKS}`);
    for (let i = 0; i < n; i++) out.push(w);
  }
  if (out.length === 0) throw new UsageError(`${field} is empty: expected widths such as 48,48,96`);
  return out;
}

/** Resample per-block widths to `depth` blocks (nearest block at the same relative position). */
export function resampleWidths(widths: readonly number[], depth: number): number[] {
  const n = widths.length;
  if (depth === n) return [...widths];
  return Array.from({ length: depth }, (_, j) => widths[Math.min(n - 1, Math.floor(((j + 0.5) * n) / depth))]!);
}
