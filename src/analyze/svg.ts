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

/** Labelled reference points (baselines): diamonds with a black outline and their label beside them. */
export interface MarkSeries {
  kind: 'mark';
  name?: string;
  x: readonly number[];
  y: readonly number[];
  /** one label per point ('' for none) */
  labels: readonly string[];
  color?: string;
  /** the element class of every mark (tests and styles find the marks by it) */
  className?: string;
}

export type Series = LineSeries | ScatterSeries | BandSeries | VBandSeries | MarkSeries;

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

/** The plot area in px, the data-to-px map of each axis, which values each axis can draw, and the ticks. */
interface PlotArea {
  left: number;
  right: number;
  /** px of the x axis (the bottom edge: y grows downwards) */
  bottom: number;
  top: number;
  xToPx: (v: number) => number;
  yToPx: (v: number) => number;
  xDrawable: (v: number) => boolean;
  yDrawable: (v: number) => boolean;
  xTicks: number[];
  yTicks: number[];
}

interface LegendPlacement {
  x: number;
  y: number;
  series: Series;
  index: number;
}

/** Render a plot to an SVG string. */
export function renderPlot(spec: PlotSpec): string {
  const width = spec.width ?? 640;
  const id = spec.id ?? hashId(JSON.stringify([spec.title, spec.xLabel, spec.yLabel, spec.series.map((s) => [s.kind, s.name])]));
  const colorOf = (series: Series, index: number) => series.color ?? PALETTE[index % PALETTE.length]!;
  const area = plotArea(spec, width, spec.height ?? 360);
  const legend = layoutLegend(spec.series, area, width);
  const height = Math.ceil(legend.bottom + 8);
  const { left, right, bottom, top } = area;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
  );
  if (spec.title) out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<defs><clipPath id="${id}-clip"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath></defs>`,
  );
  if (spec.title)
    out.push(
      `<text x="${r2((left + right) / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
    );
  const ticks = gridAndTicks(area);
  out.push(`<g stroke="#e5e5e5" stroke-width="1">${ticks.grid.join('')}</g>`);

  // Series, clipped to the plot area: bands first so points and lines stay on top.
  const order = spec.series
    .map((series, index) => ({ series, index }))
    .sort((a, b) => rank(a.series) - rank(b.series) || a.index - b.index);
  out.push(`<g clip-path="url(#${id}-clip)">`);
  for (const { series, index } of order) if (series.kind !== 'mark') out.push(drawSeries(series, colorOf(series, index), area));
  out.push('</g>');
  // marks go over everything, unclipped, so a label near the edge stays readable
  for (const { series, index } of order) if (series.kind === 'mark') out.push(drawMarks(series, colorOf(series, index), area));

  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#333"/>`);
  out.push(`<g fill="#222">${ticks.labels.join('')}</g>`);
  out.push(...axisLabels(spec, area));
  for (const entry of legend.placed) out.push(legendEntry(entry.series, colorOf(entry.series, entry.index), entry.x, entry.y));
  out.push('</svg>');
  return out.join('\n');
}

/** Data domains (bands count; vertical bands only count for x), the margins they need and the axis maps. */
function plotArea(spec: PlotSpec, width: number, plotHeight: number): PlotArea {
  const xValues: number[] = [];
  const yValues: number[] = [];
  for (const series of spec.series) {
    if (series.kind === 'vband') xValues.push(series.x0, series.x1);
    else if (series.kind === 'band') {
      xValues.push(...series.x);
      yValues.push(...series.lo, ...series.hi);
    } else {
      xValues.push(...series.x);
      yValues.push(...series.y);
    }
  }
  const [xLo, xHi] = domainOf(xValues, !!spec.xLog, spec.xDomain);
  const [yLo, yHi] = domainOf(yValues, !!spec.yLog, spec.yDomain);
  const xTicks = spec.xTicks
    ? spec.xTicks.filter((t) => t >= xLo && t <= xHi)
    : spec.xLog
      ? logTicks(xLo, xHi)
      : niceTicks(xLo, xHi, Math.max(3, Math.round(width / 90)), !!spec.xInteger);
  const yTicks = spec.yLog ? logTicks(yLo, yHi) : niceTicks(yLo, yHi, Math.max(3, Math.round(plotHeight / 60)));

  const yLabelWidth = Math.max(...yTicks.map((t) => textWidth(formatTick(t), 11)), 10);
  const left = Math.round(30 + yLabelWidth + (spec.yLabel ? 10 : 0));
  const right = width - 20;
  const top = spec.title ? 38 : 16;
  const bottom = top + plotHeight;
  return {
    left,
    right,
    bottom,
    top,
    xToPx: axisMap({ lo: xLo, hi: xHi, log: !!spec.xLog, px0: left, px1: right }),
    yToPx: axisMap({ lo: yLo, hi: yHi, log: !!spec.yLog, px0: bottom, px1: top }),
    xDrawable: (v: number) => Number.isFinite(v) && (!spec.xLog || v > 0),
    yDrawable: (v: number) => Number.isFinite(v) && (!spec.yLog || v > 0),
    xTicks,
    yTicks,
  };
}

/** Legend entries flow left to right below the x label; `bottom` is where the drawing ends. */
function layoutLegend(seriesList: Series[], area: PlotArea, width: number): { placed: LegendPlacement[]; bottom: number } {
  const entries = seriesList.map((series, index) => ({ series, index })).filter((entry) => entry.series.name);
  const rowHeight = 18;
  const placed: LegendPlacement[] = [];
  let x = area.left;
  let y = area.bottom + 50;
  for (const entry of entries) {
    const entryWidth = 26 + textWidth(entry.series.name!, 12) + 18;
    if (x > area.left && x + entryWidth > width - 8) {
      x = area.left;
      y += rowHeight;
    }
    placed.push({ x, y, series: entry.series, index: entry.index });
    x += entryWidth;
  }
  return { placed, bottom: placed.length ? y + rowHeight : area.bottom + 44 };
}

/** Grid lines across the plot area, and tick marks with their labels outside it. */
function gridAndTicks(area: PlotArea): { grid: string[]; labels: string[] } {
  const { left, right, bottom, top } = area;
  const grid: string[] = [];
  const labels: string[] = [];
  for (const t of area.xTicks) {
    const x = r2(area.xToPx(t));
    grid.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}"/>`);
    labels.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333"/>`);
    labels.push(`<text x="${x}" y="${bottom + 18}" text-anchor="middle" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of area.yTicks) {
    const y = r2(area.yToPx(t));
    grid.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}"/>`);
    labels.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#333"/>`);
    labels.push(`<text x="${left - 8}" y="${r2(area.yToPx(t) + 4)}" text-anchor="end" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  return { grid, labels };
}

function axisLabels(spec: PlotSpec, area: PlotArea): string[] {
  const out: string[] = [];
  if (spec.xLabel)
    out.push(
      `<text x="${r2((area.left + area.right) / 2)}" y="${area.bottom + 38}" text-anchor="middle" font-size="13">${escapeXml(spec.xLabel)}</text>`,
    );
  if (spec.yLabel) {
    const centerY = r2((area.bottom + area.top) / 2);
    out.push(
      `<text x="16" y="${centerY}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${centerY})">${escapeXml(spec.yLabel)}</text>`,
    );
  }
  return out;
}

function rank(s: Series): number {
  return s.kind === 'vband' ? 0 : s.kind === 'band' ? 1 : s.kind === 'scatter' ? 2 : s.kind === 'mark' ? 4 : 3;
}

function drawSeries(series: Series, color: string, area: PlotArea): string {
  if (series.kind === 'vband') return drawVBand(series, color, area);
  if (series.kind === 'band') return drawBand(series, color, area);
  if (series.kind === 'mark') return drawMarks(series, color, area);
  return drawPoints(series, color, area);
}

function drawVBand(series: VBandSeries, color: string, area: PlotArea): string {
  const { xToPx, xDrawable, bottom, top } = area;
  if (!xDrawable(series.x0) || !xDrawable(series.x1)) return '';
  const leftPx = Math.min(xToPx(series.x0), xToPx(series.x1));
  const rightPx = Math.max(xToPx(series.x0), xToPx(series.x1));
  let svg = `<rect x="${r2(leftPx)}" y="${top}" width="${r2(Math.max(1, rightPx - leftPx))}" height="${bottom - top}" fill="${color}" fill-opacity="${series.opacity ?? 0.12}"/>`;
  if (series.mid !== undefined && xDrawable(series.mid))
    svg += `<line x1="${r2(xToPx(series.mid))}" y1="${top}" x2="${r2(xToPx(series.mid))}" y2="${bottom}" stroke="${color}" stroke-dasharray="5 4" stroke-width="1.5"/>`;
  return svg;
}

function drawBand(series: BandSeries, color: string, area: PlotArea): string {
  const { xToPx, yToPx, xDrawable, yDrawable } = area;
  const drawable = series.x.map((_, k) => k).filter((k) => xDrawable(series.x[k]!) && yDrawable(series.lo[k]!) && yDrawable(series.hi[k]!));
  if (drawable.length === 0) return '';
  const upper = drawable.map((k) => `${r2(xToPx(series.x[k]!))},${r2(yToPx(series.hi[k]!))}`);
  const lower = drawable.map((k) => `${r2(xToPx(series.x[k]!))},${r2(yToPx(series.lo[k]!))}`).reverse();
  let svg = `<polygon points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="${series.opacity ?? 0.18}" stroke="none"/>`;
  if (drawable.length === 1) {
    const k = drawable[0]!;
    svg += `<line x1="${r2(xToPx(series.x[k]!))}" y1="${r2(yToPx(series.lo[k]!))}" x2="${r2(xToPx(series.x[k]!))}" y2="${r2(yToPx(series.hi[k]!))}" stroke="${color}" stroke-width="3" stroke-opacity="0.5"/>`;
  }
  if (series.mid) {
    const mid = drawable.filter((k) => yDrawable(series.mid![k]!)).map((k) => `${r2(xToPx(series.x[k]!))},${r2(yToPx(series.mid![k]!))}`);
    if (mid.length > 1)
      svg += `<polyline points="${mid.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5" stroke-opacity="0.8"/>`;
  }
  return svg;
}

/** Scatter dots, or a line / step path (with optional markers), through the drawable points. */
function drawPoints(series: LineSeries | ScatterSeries, color: string, area: PlotArea): string {
  const points: Array<[number, number]> = [];
  for (let k = 0; k < Math.min(series.x.length, series.y.length); k++) {
    if (area.xDrawable(series.x[k]!) && area.yDrawable(series.y[k]!)) points.push([area.xToPx(series.x[k]!), area.yToPx(series.y[k]!)]);
  }
  if (series.kind === 'scatter') {
    const radius = series.radius ?? 3.2;
    const dots = points.map(([x, y]) => `<circle cx="${r2(x)}" cy="${r2(y)}" r="${radius}"/>`).join('');
    return `<g fill="${color}" fill-opacity="${series.opacity ?? 0.65}" stroke="${color}" stroke-width="0.6">${dots}</g>`;
  }
  if (points.length === 0) return '';
  let path = `M${r2(points[0]![0])},${r2(points[0]![1])}`;
  for (let k = 1; k < points.length; k++) {
    path += series.kind === 'step' ? `H${r2(points[k]![0])}V${r2(points[k]![1])}` : `L${r2(points[k]![0])},${r2(points[k]![1])}`;
  }
  const dash = series.dash ? ` stroke-dasharray="${series.dash}"` : '';
  let svg = `<path d="${path}" fill="none" stroke="${color}" stroke-width="${series.width ?? 2}"${dash} stroke-linejoin="round"/>`;
  if (series.markers) svg += `<g fill="${color}">${points.map(([x, y]) => `<circle cx="${r2(x)}" cy="${r2(y)}" r="2.5"/>`).join('')}</g>`;
  return svg;
}

const diamond = (x: number, y: number, r: number) =>
  `${r2(x)},${r2(y - r)} ${r2(x + r)},${r2(y)} ${r2(x)},${r2(y + r)} ${r2(x - r)},${r2(y)}`;

function drawMarks(series: MarkSeries, color: string, area: PlotArea): string {
  const cls = series.className ? ` class="${escapeXml(series.className)}"` : '';
  const out: string[] = [];
  for (let k = 0; k < Math.min(series.x.length, series.y.length); k++) {
    const xv = series.x[k]!;
    const yv = series.y[k]!;
    if (!area.xDrawable(xv) || !area.yDrawable(yv)) continue;
    const x = area.xToPx(xv);
    const y = area.yToPx(yv);
    out.push(`<polygon${cls} points="${diamond(x, y, 6)}" fill="${color}" stroke="#000" stroke-width="1.2"/>`);
    const label = series.labels[k];
    // the label sits right of its mark, or left of it where it would leave the drawing
    const left = x + 9 + textWidth(label ?? '', 11) > area.right + 16;
    if (label)
      out.push(
        `<text x="${r2(left ? x - 9 : x + 9)}" y="${r2(y - 7)}"${left ? ' text-anchor="end"' : ''} font-size="11" fill="#000" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeXml(label)}</text>`,
      );
  }
  return out.join('');
}

function legendEntry(s: Series, color: string, x: number, y: number): string {
  const cy = y + 9;
  let sw: string;
  if (s.kind === 'mark') sw = `<polygon points="${diamond(x + 10, cy, 5)}" fill="${color}" stroke="#000" stroke-width="1.2"/>`;
  else if (s.kind === 'scatter') sw = `<circle cx="${x + 10}" cy="${cy}" r="4" fill="${color}" fill-opacity="0.7"/>`;
  else if (s.kind === 'band' || s.kind === 'vband')
    sw = `<rect x="${x}" y="${cy - 6}" width="20" height="12" fill="${color}" fill-opacity="${Math.max(0.25, s.opacity ?? 0.18)}"/>`;
  else
    sw = `<line x1="${x}" y1="${cy}" x2="${x + 20}" y2="${cy}" stroke="${color}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
  return `${sw}<text x="${x + 26}" y="${cy + 4}" fill="#222">${escapeXml(s.name!)}</text>`;
}
