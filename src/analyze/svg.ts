/**
 * A small dependency-free SVG plotter for analysis reports: line, step and scatter series, shaded bands
 * (y-bands over x and vertical x-ranges), linear or log axes with nice ticks, a title, axis labels and a
 * legend laid out below the plot so it never covers data. Output is a standalone <svg> string that also
 * works inline in HTML (element ids are unique per plot).
 */

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export interface LineSeries {
  kind: 'line' | 'step';
  name?: string;
  x: readonly number[];
  y: readonly number[];
  color?: string;
  /** stroke-dasharray, e.g. '6 3' */
  dash?: string;
  width?: number;
  /** draw a dot at every point */
  markers?: boolean;
}

export interface ScatterSeries {
  kind: 'scatter';
  name?: string;
  x: readonly number[];
  y: readonly number[];
  color?: string;
  radius?: number;
  opacity?: number;
}

/** Shaded region between lo and hi over x (a bootstrap band), optionally with its middle line. */
export interface BandSeries {
  kind: 'band';
  name?: string;
  x: readonly number[];
  lo: readonly number[];
  hi: readonly number[];
  mid?: readonly number[];
  color?: string;
  opacity?: number;
}

/** Vertical shaded x-range over the full plot height (a best region), optionally with a middle line. */
export interface VBandSeries {
  kind: 'vband';
  name?: string;
  x0: number;
  x1: number;
  mid?: number;
  color?: string;
  opacity?: number;
}

export type Series = LineSeries | ScatterSeries | BandSeries | VBandSeries;

export interface PlotSpec {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  xLog?: boolean;
  yLog?: boolean;
  /** explicit x ticks (e.g. the few distinct group widths) */
  xTicks?: number[];
  /** integer-valued x (depth, block index): whole-number ticks */
  xInteger?: boolean;
  /** overall width and plot-area height in px (legend rows add to the height) */
  width?: number;
  height?: number;
  xDomain?: [number, number];
  yDomain?: [number, number];
  series: Series[];
  /** unique prefix for element ids when several plots share an HTML page */
  id?: string;
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** 1, 2, 2.5, 5 times a power of ten, close to range/target. */
function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  const m = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
  return m * p;
}

function decimalsOf(step: number): number {
  for (let d = 0; d < 12; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-9 * 10 ** d) return d;
  return 12;
}

/** Ticks at multiples of a nice step inside [lo, hi]; `integer` keeps the step a whole number. */
export function niceTicks(lo: number, hi: number, target = 6, integer = false): number[] {
  if (!(hi > lo)) return Number.isFinite(lo) ? [lo] : [];
  let step = niceStep(hi - lo, target);
  if (integer) step = Math.max(1, Math.floor(step));
  const d = decimalsOf(step);
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toFixed(d)));
  return out;
}

/** Ticks for a log axis: decades, or 1-2-5 per decade, or 1..9 per decade, as the range allows. */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > lo)) return lo > 0 ? [lo] : [];
  const decades = Math.log10(hi / lo);
  const kLo = Math.floor(Math.log10(lo));
  const kHi = Math.ceil(Math.log10(hi));
  const pick = (mults: number[], every = 1) => {
    const out: number[] = [];
    for (let k = kLo; k <= kHi; k++) {
      if ((k - kLo) % every !== 0) continue;
      for (const m of mults) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  if (decades > 8) return pick([1], Math.ceil(decades / 6));
  if (decades >= 3.2) return pick([1]);
  if (decades >= 0.9) return pick([1, 2, 5]);
  const t = pick([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (t.length >= 3 && t.length <= 9) return t;
  const lin = niceTicks(lo, hi, 5).filter((v) => v > 0);
  return lin.length >= 2 ? lin : t;
}

/** Short tick label: 0.25, 12, 1.5k, 2M, 4G. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e4, 'k'],
  ];
  for (const [u, s] of units) if (a >= u) return trim((v / (u === 1e4 ? 1e3 : u)).toFixed(2)) + (u === 1e4 ? 'k' : s);
  if (a >= 1) return trim(v.toFixed(3));
  return trim(v.toPrecision(3));
}

function hashId(s: string): string {
  let h = 2166136261 >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return 'p' + h.toString(36);
}

const r2 = (v: number) => (Math.round(v * 100) / 100).toString();

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  px0: number;
  px1: number;
}

function axisMap(a: Axis): (v: number) => number {
  const f = a.log ? Math.log10 : (v: number) => v;
  const l = f(a.lo);
  const h = f(a.hi);
  return (v) => a.px0 + ((f(v) - l) / (h - l || 1)) * (a.px1 - a.px0);
}

function domainOf(values: number[], log: boolean, given?: [number, number]): [number, number] {
  if (given) return given;
  const v = values.filter((x) => Number.isFinite(x) && (!log || x > 0));
  if (v.length === 0) return log ? [1, 10] : [0, 1];
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  if (log) {
    if (hi / lo < 1.0001) return [lo / 1.5, hi * 1.5];
    const pad = Math.pow(hi / lo, 0.04);
    return [lo / pad, hi * pad];
  }
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
    const d = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
    return [lo - d, hi + d];
  }
  const pad = (hi - lo) * 0.04;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

function textWidth(s: string, size: number): number {
  return s.length * size * 0.56;
}

/** Render a plot to an SVG string. */
export function renderPlot(spec: PlotSpec): string {
  const W = spec.width ?? 640;
  const plotH = spec.height ?? 360;
  const id = spec.id ?? hashId(JSON.stringify([spec.title, spec.xLabel, spec.yLabel, spec.series.map((s) => [s.kind, s.name])]));
  const colorOf = (s: Series, i: number) => s.color ?? PALETTE[i % PALETTE.length]!;

  // Data domains (bands count; vertical bands only count for x).
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    if (s.kind === 'vband') xs.push(s.x0, s.x1);
    else if (s.kind === 'band') {
      xs.push(...s.x);
      ys.push(...s.lo, ...s.hi);
    } else {
      xs.push(...s.x);
      ys.push(...s.y);
    }
  }
  const [xLo, xHi] = domainOf(xs, !!spec.xLog, spec.xDomain);
  const [yLo, yHi] = domainOf(ys, !!spec.yLog, spec.yDomain);
  const xTicks = spec.xTicks ? spec.xTicks.filter((t) => t >= xLo && t <= xHi) : spec.xLog ? logTicks(xLo, xHi) : niceTicks(xLo, xHi, Math.max(3, Math.round(W / 90)), !!spec.xInteger);
  const yTicks = spec.yLog ? logTicks(yLo, yHi) : niceTicks(yLo, yHi, Math.max(3, Math.round(plotH / 60)));

  const yLabelW = Math.max(...yTicks.map((t) => textWidth(formatTick(t), 11)), 10);
  const left = Math.round(30 + yLabelW + (spec.yLabel ? 10 : 0));
  const right = 20;
  const top = spec.title ? 38 : 16;
  const px0 = left;
  const px1 = W - right;
  const py0 = top + plotH;
  const py1 = top;
  const X = axisMap({ lo: xLo, hi: xHi, log: !!spec.xLog, px0, px1 });
  const Y = axisMap({ lo: yLo, hi: yHi, log: !!spec.yLog, px0: py0, px1: py1 });
  const okX = (v: number) => Number.isFinite(v) && (!spec.xLog || v > 0);
  const okY = (v: number) => Number.isFinite(v) && (!spec.yLog || v > 0);

  // Legend entries flow left to right below the x label.
  const entries = spec.series.map((s, i) => ({ s, i })).filter((e) => e.s.name);
  const legendTop = py0 + 50;
  const rowH = 18;
  const placed: Array<{ x: number; y: number; s: Series; i: number }> = [];
  let lx = px0;
  let ly = legendTop;
  for (const e of entries) {
    const w = 26 + textWidth(e.s.name!, 12) + 18;
    if (lx > px0 && lx + w > W - 8) {
      lx = px0;
      ly += rowH;
    }
    placed.push({ x: lx, y: ly, s: e.s, i: e.i });
    lx += w;
  }
  const H = Math.ceil((placed.length ? ly + rowH : py0 + 44) + 8);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`);
  if (spec.title) out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<defs><clipPath id="${id}-clip"><rect x="${px0}" y="${py1}" width="${px1 - px0}" height="${py0 - py1}"/></clipPath></defs>`);
  if (spec.title) out.push(`<text x="${r2((px0 + px1) / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);

  // Grid and ticks.
  const grid: string[] = [];
  const labels: string[] = [];
  for (const t of xTicks) {
    const x = r2(X(t));
    grid.push(`<line x1="${x}" y1="${py1}" x2="${x}" y2="${py0}"/>`);
    labels.push(`<line x1="${x}" y1="${py0}" x2="${x}" y2="${py0 + 5}" stroke="#333"/>`);
    labels.push(`<text x="${x}" y="${py0 + 18}" text-anchor="middle" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of yTicks) {
    const y = r2(Y(t));
    grid.push(`<line x1="${px0}" y1="${y}" x2="${px1}" y2="${y}"/>`);
    labels.push(`<line x1="${px0 - 5}" y1="${y}" x2="${px0}" y2="${y}" stroke="#333"/>`);
    labels.push(`<text x="${px0 - 8}" y="${r2(Y(t) + 4)}" text-anchor="end" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<g stroke="#e5e5e5" stroke-width="1">${grid.join('')}</g>`);

  // Series, clipped to the plot area: bands first so points and lines stay on top.
  const order = spec.series.map((s, i) => ({ s, i })).sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i);
  out.push(`<g clip-path="url(#${id}-clip)">`);
  for (const { s, i } of order) out.push(drawSeries(s, colorOf(s, i), X, Y, okX, okY, py0, py1));
  out.push('</g>');

  out.push(`<rect x="${px0}" y="${py1}" width="${px1 - px0}" height="${py0 - py1}" fill="none" stroke="#333"/>`);
  out.push(`<g fill="#222">${labels.join('')}</g>`);
  if (spec.xLabel) out.push(`<text x="${r2((px0 + px1) / 2)}" y="${py0 + 38}" text-anchor="middle" font-size="13">${escapeXml(spec.xLabel)}</text>`);
  if (spec.yLabel) {
    const cy = r2((py0 + py1) / 2);
    out.push(`<text x="16" y="${cy}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${cy})">${escapeXml(spec.yLabel)}</text>`);
  }
  for (const p of placed) out.push(legendEntry(p.s, colorOf(p.s, p.i), p.x, p.y));
  out.push('</svg>');
  return out.join('\n');
}

function rank(s: Series): number {
  return s.kind === 'vband' ? 0 : s.kind === 'band' ? 1 : s.kind === 'scatter' ? 2 : 3;
}

function drawSeries(
  s: Series,
  color: string,
  X: (v: number) => number,
  Y: (v: number) => number,
  okX: (v: number) => boolean,
  okY: (v: number) => boolean,
  py0: number,
  py1: number,
): string {
  if (s.kind === 'vband') {
    if (!okX(s.x0) || !okX(s.x1)) return '';
    const a = Math.min(X(s.x0), X(s.x1));
    const b = Math.max(X(s.x0), X(s.x1));
    let g = `<rect x="${r2(a)}" y="${py1}" width="${r2(Math.max(1, b - a))}" height="${py0 - py1}" fill="${color}" fill-opacity="${s.opacity ?? 0.12}"/>`;
    if (s.mid !== undefined && okX(s.mid)) g += `<line x1="${r2(X(s.mid))}" y1="${py1}" x2="${r2(X(s.mid))}" y2="${py0}" stroke="${color}" stroke-dasharray="5 4" stroke-width="1.5"/>`;
    return g;
  }
  if (s.kind === 'band') {
    const idx = s.x.map((_, k) => k).filter((k) => okX(s.x[k]!) && okY(s.lo[k]!) && okY(s.hi[k]!));
    if (idx.length === 0) return '';
    const upper = idx.map((k) => `${r2(X(s.x[k]!))},${r2(Y(s.hi[k]!))}`);
    const lower = idx.map((k) => `${r2(X(s.x[k]!))},${r2(Y(s.lo[k]!))}`).reverse();
    let g = `<polygon points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="${s.opacity ?? 0.18}" stroke="none"/>`;
    if (idx.length === 1) {
      const k = idx[0]!;
      g += `<line x1="${r2(X(s.x[k]!))}" y1="${r2(Y(s.lo[k]!))}" x2="${r2(X(s.x[k]!))}" y2="${r2(Y(s.hi[k]!))}" stroke="${color}" stroke-width="3" stroke-opacity="0.5"/>`;
    }
    if (s.mid) {
      const mid = idx.filter((k) => okY(s.mid![k]!)).map((k) => `${r2(X(s.x[k]!))},${r2(Y(s.mid![k]!))}`);
      if (mid.length > 1) g += `<polyline points="${mid.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5" stroke-opacity="0.8"/>`;
    }
    return g;
  }
  const pts: Array<[number, number]> = [];
  for (let k = 0; k < Math.min(s.x.length, s.y.length); k++) if (okX(s.x[k]!) && okY(s.y[k]!)) pts.push([X(s.x[k]!), Y(s.y[k]!)]);
  if (s.kind === 'scatter') {
    const r = s.radius ?? 3.2;
    const dots = pts.map(([x, y]) => `<circle cx="${r2(x)}" cy="${r2(y)}" r="${r}"/>`).join('');
    return `<g fill="${color}" fill-opacity="${s.opacity ?? 0.65}" stroke="${color}" stroke-width="0.6">${dots}</g>`;
  }
  if (pts.length === 0) return '';
  let d = `M${r2(pts[0]![0])},${r2(pts[0]![1])}`;
  for (let k = 1; k < pts.length; k++) {
    d += s.kind === 'step' ? `H${r2(pts[k]![0])}V${r2(pts[k]![1])}` : `L${r2(pts[k]![0])},${r2(pts[k]![1])}`;
  }
  const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
  let g = `<path d="${d}" fill="none" stroke="${color}" stroke-width="${s.width ?? 2}"${dash} stroke-linejoin="round"/>`;
  if (s.markers) g += `<g fill="${color}">${pts.map(([x, y]) => `<circle cx="${r2(x)}" cy="${r2(y)}" r="2.5"/>`).join('')}</g>`;
  return g;
}

function legendEntry(s: Series, color: string, x: number, y: number): string {
  const cy = y + 9;
  let sw: string;
  if (s.kind === 'scatter') sw = `<circle cx="${x + 10}" cy="${cy}" r="4" fill="${color}" fill-opacity="0.7"/>`;
  else if (s.kind === 'band' || s.kind === 'vband') sw = `<rect x="${x}" y="${cy - 6}" width="20" height="12" fill="${color}" fill-opacity="${Math.max(0.25, s.opacity ?? 0.18)}"/>`;
  else sw = `<line x1="${x}" y1="${cy}" x2="${x + 20}" y2="${cy}" stroke="${color}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
  return `${sw}<text x="${x + 26}" y="${cy + 4}" fill="#222">${escapeXml(s.name!)}</text>`;
}
