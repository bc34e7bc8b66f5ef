/**
 * Statistics for design-space analysis (Radosavovic et al. 2020): error EDFs (their eq. 1,
 * F(e) = 1/n * sum_i 1[e_i < e]), summaries, the empirical bootstrap of the best region, and rank/linear
 * correlation. Pure functions; every random draw goes through a seeded Rng so the same seed gives the
 * same bands.
 */
import { Rng } from '../util/rng.js';

export interface Edf {
  /** distinct errors, ascending */
  x: number[];
  /** y[k] = F just above x[k] = fraction of models with error <= x[k]; F(e) = 0 for e <= x[0] */
  y: number[];
  n: number;
}

/** Empirical distribution function of errors as step points: F(e) = (1/n) #{err < e}. */
export function edf(errors: readonly number[]): Edf {
  const s = errors.filter((e) => Number.isFinite(e)).sort((a, b) => a - b);
  const n = s.length;
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    // last index of a run of equal values gives the jump height there
    if (i + 1 < n && s[i + 1] === s[i]) continue;
    x.push(s[i]!);
    y.push((i + 1) / n);
  }
  return { x, y, n };
}

/** F(e) = (1/n) #{err < e} evaluated at e (strict inequality, as the spec defines it). */
export function edfAt(errors: readonly number[], e: number): number {
  const fin = errors.filter((v) => Number.isFinite(v));
  if (fin.length === 0) return NaN;
  let c = 0;
  for (const v of fin) if (v < e) c++;
  return c / fin.length;
}

export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  std: number;
}

export function summarize(values: readonly number[]): Summary {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, min: NaN, max: NaN, mean: NaN, median: NaN, std: NaN };
  let sum = 0;
  for (const v of s) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of s) ss += (v - mean) * (v - mean);
  return { n, min: s[0]!, max: s[n - 1]!, mean, median: quantileSorted(s, 0.5), std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0 };
}

/** Quantile q in [0,1] of ascending data, linear interpolation between order statistics (numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const f = pos - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * f;
}

/** Percentiles (0..100) of unsorted data. */
export function percentiles(values: readonly number[], ps: readonly number[]): number[] {
  const s = Float64Array.from(values.filter((v) => Number.isFinite(v))).sort();
  return ps.map((p) => quantileSorted(s, p / 100));
}

export interface BootstrapOptions {
  /** bootstrap rounds (default 2500) */
  samples?: number;
  /** fraction of models drawn each round, with replacement (default 0.25) */
  frac?: number;
  seed?: number;
  /** percentiles reported (default 2.5, 50, 97.5) */
  ps?: [number, number, number];
}

export interface BestRegion {
  /** percentiles of the best model's error across rounds */
  err: [number, number, number];
  /** percentiles of each named value (e.g. a design parameter) of the best model across rounds */
  values: Record<string, [number, number, number]>;
  rounds: number;
  drawn: number;
}

function bootstrapSetup(n: number, o: BootstrapOptions) {
  const rounds = Math.max(1, Math.floor(o.samples ?? 2500));
  const frac = o.frac ?? 0.25;
  const drawn = frac > 1 ? Math.floor(frac) : Math.max(1, Math.floor(n * frac));
  return { rounds, drawn, rng: new Rng(o.seed ?? 0), ps: o.ps ?? ([2.5, 50, 97.5] as [number, number, number]) };
}

/**
 * Empirical bootstrap of the best region: draw `frac` of the models with replacement, keep the one with
 * the lowest error, repeat; report percentiles of its error and of its other values.
 */
export function bootstrapBest(
  errors: readonly number[],
  values: Record<string, readonly number[]> = {},
  opts: BootstrapOptions = {},
): BestRegion {
  const n = errors.length;
  const { rounds, drawn, rng, ps } = bootstrapSetup(n, opts);
  if (n === 0) {
    const nan: [number, number, number] = [NaN, NaN, NaN];
    return { err: nan, values: Object.fromEntries(Object.keys(values).map((k) => [k, nan])), rounds, drawn: 0 };
  }
  const best = new Uint32Array(rounds);
  for (let r = 0; r < rounds; r++) {
    let bi = -1;
    let be = Infinity;
    for (let k = 0; k < drawn; k++) {
      const i = Math.floor(rng.next() * n);
      const e = errors[i]!;
      if (e < be || bi < 0) {
        be = e;
        bi = i;
      }
    }
    best[r] = bi;
  }
  const pick = (arr: readonly number[]) =>
    percentiles(
      Array.from(best, (i) => arr[i]!),
      ps,
    ) as [number, number, number];
  const out: Record<string, [number, number, number]> = {};
  for (const [k, v] of Object.entries(values)) out[k] = pick(v);
  return { err: pick(errors), values: out, rounds, drawn };
}

export interface BinnedBand {
  /** bin centres (geometric centres on a log axis; the values themselves when there are few distinct ones) */
  x: number[];
  lo: number[];
  mid: number[];
  hi: number[];
  /** models in each bin */
  count: number[];
  /** bin edges, or the distinct values when each value is its own bin */
  edges: number[];
}

export interface BinOptions extends BootstrapOptions {
  bins?: number;
  log?: boolean;
  /** bins with fewer models are dropped (default 2) */
  minCount?: number;
}

/**
 * A band over a binned design parameter: within each bin, bootstrap the minimum error of `frac` of the
 * bin's models and report the 2.5/50/97.5 percentiles. The lower edge tracks the best attainable error.
 */
export function bootstrapBinnedMin(xs: readonly number[], errors: readonly number[], opts: BinOptions = {}): BinnedBand {
  const pts: Array<[number, number]> = [];
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    const e = errors[i]!;
    if (Number.isFinite(x) && Number.isFinite(e) && (!opts.log || x > 0)) pts.push([x, e]);
  }
  const empty: BinnedBand = { x: [], lo: [], mid: [], hi: [], count: [], edges: [] };
  if (pts.length === 0) return empty;
  const distinctValues = [...new Set(pts.map((p) => p[0]))].sort((u, v) => u - v);
  const distinct = distinctValues.length;
  const nb = Math.max(1, Math.min(opts.bins ?? 10, distinct));
  // few distinct values (group widths 8/16/32/64, depths): one bin per value, centred on it
  if (distinct <= (opts.bins ?? 10))
    return bandOver(
      distinctValues.map((v) => pts.filter((p) => p[0] === v).map((p) => p[1])),
      distinctValues,
      distinctValues,
      opts,
    );
  const tf = opts.log ? Math.log : (v: number) => v;
  const inv = opts.log ? Math.exp : (v: number) => v;
  let a = Infinity;
  let b = -Infinity;
  for (const [x] of pts) {
    a = Math.min(a, tf(x));
    b = Math.max(b, tf(x));
  }
  const edges: number[] = [];
  for (let k = 0; k <= nb; k++) edges.push(inv(a + ((b - a) * k) / nb));
  const groups: number[][] = Array.from({ length: nb }, () => []);
  for (const [x, e] of pts) {
    const t = b > a ? (tf(x) - a) / (b - a) : 0;
    groups[Math.min(nb - 1, Math.floor(t * nb))]!.push(e);
  }
  const centres = Array.from({ length: nb }, (_, k) => inv((tf(edges[k]!) + tf(edges[k + 1]!)) / 2));
  return bandOver(groups, centres, edges, opts);
}

/** Bootstrap the min error of each group of errors; groups with fewer than minCount models are dropped. */
function bandOver(groups: number[][], centres: number[], edges: number[], opts: BinOptions): BinnedBand {
  const minCount = opts.minCount ?? 2;
  const out: BinnedBand = { x: [], lo: [], mid: [], hi: [], count: [], edges };
  const rng = new Rng(opts.seed ?? 0);
  const rounds = Math.max(1, Math.floor(opts.samples ?? 1000));
  const ps = opts.ps ?? [2.5, 50, 97.5];
  const frac = opts.frac ?? 0.25;
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k]!;
    if (g.length < minCount) continue;
    const drawn = frac > 1 ? Math.floor(frac) : Math.max(1, Math.floor(g.length * frac));
    const mins = new Float64Array(rounds);
    for (let r = 0; r < rounds; r++) {
      let m = Infinity;
      for (let j = 0; j < drawn; j++) m = Math.min(m, g[Math.floor(rng.next() * g.length)]!);
      mins[r] = m;
    }
    mins.sort();
    out.x.push(centres[k]!);
    out.lo.push(quantileSorted(mins, ps[0] / 100));
    out.mid.push(quantileSorted(mins, ps[1] / 100));
    out.hi.push(quantileSorted(mins, ps[2] / 100));
    out.count.push(g.length);
  }
  return out;
}

/** The pairs (x, y) where both are finite numbers. */
function finitePairs(xs: readonly number[], ys: readonly number[]): [number[], number[]] {
  const px: number[] = [];
  const py: number[] = [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    if (Number.isFinite(xs[i]!) && Number.isFinite(ys[i]!)) {
      px.push(xs[i]!);
      py.push(ys[i]!);
    }
  }
  return [px, py];
}

/** Pearson's linear correlation of the finite pairs; NaN when fewer than 2 pairs or no variance. */
export function pearson(xs: readonly number[], ys: readonly number[]): number {
  const [px, py] = finitePairs(xs, ys);
  const n = px.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += px[i]!;
    my += py[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = px[i]! - mx;
    const dy = py[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Ranks 1..n with ties given their average rank. */
export function ranks(values: readonly number[]): number[] {
  const idx = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const r = new Array<number>(values.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && values[idx[j + 1]!] === values[idx[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]!] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation (Pearson on average ranks) of the finite pairs. */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  const [px, py] = finitePairs(xs, ys);
  return pearson(ranks(px), ranks(py));
}

export interface QuadraticFit {
  /** y = a x^2 + b x + c over the finite pairs */
  a: number;
  b: number;
  c: number;
  /** coefficient of determination of the fit */
  r2: number;
  n: number;
  /** the x of the lowest fitted y: the vertex when the parabola opens upwards inside [min x, max x], else the better end */
  xBest: number;
  /** whether xBest is an interior minimum (a > 0 and the vertex within the data's range) */
  interior: boolean;
}

/**
 * Least-squares parabola through the finite (x, y) pairs (numpy.polyfit(x, y, 2)), solved on centred and
 * scaled x for conditioning; undefined with fewer than 3 distinct x values.
 */
export function quadraticFit(xs: readonly number[], ys: readonly number[]): QuadraticFit | undefined {
  const [px, py] = finitePairs(xs, ys);
  const n = px.length;
  if (new Set(px).size < 3) return undefined;
  const mx = px.reduce((s, v) => s + v, 0) / n;
  const sx = Math.sqrt(px.reduce((s, v) => s + (v - mx) * (v - mx), 0) / n);
  const t = px.map((v) => (v - mx) / sx);
  // normal equations for y = p2 t^2 + p1 t + p0
  const m = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  for (let i = 0; i < n; i++) {
    const row = [t[i]! * t[i]!, t[i]!, 1];
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) m[r]![c]! += row[r]! * row[c]!;
      m[r]![3]! += row[r]! * py[i]!;
    }
  }
  // Gaussian elimination with partial pivoting
  for (let col = 0; col < 3; col++) {
    let piv = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[piv]![col]!)) piv = r;
    [m[col], m[piv]] = [m[piv]!, m[col]!];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c < 4; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  const [p2, p1, p0] = [m[0]![3]! / m[0]![0]!, m[1]![3]! / m[1]![1]!, m[2]![3]! / m[2]![2]!];
  // back to x: t = (x - mx) / sx
  const a = p2 / (sx * sx);
  const b = p1 / sx - (2 * p2 * mx) / (sx * sx);
  const c = p0 - (p1 * mx) / sx + (p2 * mx * mx) / (sx * sx);
  const my = py.reduce((s, v) => s + v, 0) / n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    const f = p2 * t[i]! * t[i]! + p1 * t[i]! + p0;
    ssRes += (py[i]! - f) ** 2;
    ssTot += (py[i]! - my) ** 2;
  }
  const lo = Math.min(...px);
  const hi = Math.max(...px);
  const vertex = p2 > 0 ? mx - (p1 * sx) / (2 * p2) : NaN;
  const interior = p2 > 0 && vertex >= lo && vertex <= hi;
  const at = (x: number) => a * x * x + b * x + c;
  const xBest = interior ? vertex : at(lo) <= at(hi) ? lo : hi;
  return { a, b, c, r2: ssTot > 0 ? 1 - ssRes / ssTot : NaN, n, xBest, interior };
}
