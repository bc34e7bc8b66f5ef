/**
 * Design-space analysis of sweep CSVs, after Radosavovic et al. 2020: error EDFs, error against each
 * design parameter, complexity measure and sampled recipe field (lr, weight_decay, ...) with bootstrap
 * bands for the best region, a quadratic trend of error against each sampled recipe field, the per-block
 * widths of the best and worst models, the sweeps' zoo baselines as labelled marks over the EDFs and
 * trends, a per-model table (models.csv: with `repeats`, the mean and standard deviation over a model's
 * seeds; every statistic and plot uses the per-model mean), a self-contained HTML report and a text
 * summary. All files are written atomically.
 */
import { basename, join } from 'node:path';
import { fitRegNet } from './fit.js';
import {
  bootstrapBest,
  bootstrapBinnedMin,
  edf,
  edfAt,
  quadraticFit,
  spearman,
  summarize,
  type BestRegion,
  type QuadraticFit,
  type Summary,
} from './stats.js';
import { escapeXml, formatTick, PALETTE, renderPlot, type Series } from './svg.js';
import {
  COMPLEXITY_COLUMNS,
  HYPER_COLUMNS,
  PARAM_COLUMNS,
  readSweeps,
  type NumericField,
  type Sweep,
  type AnalysisRow,
} from './sweep-csv.js';
import { toCsv } from '../results/csv.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { renderTable } from '../util/table.js';

export interface AnalyzeOptions {
  /** bootstrap rounds (default 2500) */
  bootstrap?: number;
  seed?: number;
  /** bins of the binned min-error band (default 8) */
  bins?: number;
  /** best models listed per sweep (default 5) */
  top?: number;
}

export interface SweepStats {
  name: string;
  file: string;
  summary: Summary;
  skipped: number;
  /** bootstrap of the best model: error and each design value */
  best: BestRegion;
  /** Spearman rank correlation of error with each numeric field present */
  spearman: Partial<Record<NumericField, number>>;
  top: Array<{ id: string; err: number; e_fit?: number; row: AnalysisRow }>;
  /** every model (per-model mean error over its ok repeats) */
  models: AnalysisRow[];
  /** the most ok repeats any model has (1 without repeats) */
  maxRepeats: number;
  /** mean over models with 2+ ok repeats of their error's standard deviation across seeds; NaN without */
  seedStd: number;
  /** quadratic trend of error against each sampled recipe field (in log10 of the field on a log axis) */
  trends: Partial<Record<NumericField, Trend>>;
  /** the baselines, each with the fraction of this sweep's models whose error is below the baseline's */
  baselines: Array<{ label: string; row: AnalysisRow; edf: number }>;
}

/** A parabola fitted to error against a field (or its log10), and the field value it puts lowest. */
export interface Trend extends QuadraticFit {
  /** the fit is in log10 of the field */
  log: boolean;
  /** xBest back on the field's scale */
  best: number;
}

/** A zoo baseline of a sweep file, marked over the plots. */
export interface Baseline {
  label: string;
  row: AnalysisRow;
}

export interface AnalyzeResult {
  sweeps: SweepStats[];
  /** every file written, absolute or relative as outDir was given */
  files: string[];
  /** plots skipped and why */
  skipped: string[];
  text: string;
}

/** `log` for the sampled recipe fields is decided by their values (logAxis). */
const FIELD_INFO: Record<NumericField, { label: string; log: boolean }> = {
  depth: { label: 'depth d (blocks)', log: false },
  w0: { label: 'initial width w0', log: true },
  wa: { label: 'slope wa', log: true },
  wm: { label: 'width multiplier wm', log: false },
  group_size: { label: 'group width g', log: true },
  flops: { label: 'flops', log: true },
  params: { label: 'params', log: true },
  acts: { label: 'activations', log: true },
  lr: { label: 'learning rate lr', log: true },
  weight_decay: { label: 'weight decay', log: true },
  momentum: { label: 'momentum', log: false },
  warmup_epochs: { label: 'warm-up epochs', log: false },
  label_smoothing: { label: 'label smoothing', log: false },
  batch_size: { label: 'batch size', log: true },
  drop_path: { label: 'drop-path rate', log: false },
  mixup: { label: 'mixup alpha', log: false },
  cutmix: { label: 'cutmix alpha', log: false },
};

const isHyper = (field: NumericField) => (HYPER_COLUMNS as readonly string[]).includes(field);

/** A recipe field is plotted on a log axis when its values are all positive and span a factor 10 or more. */
function logAxis(field: NumericField, sweeps: Sweep[]): boolean {
  if (!isHyper(field)) return FIELD_INFO[field].log;
  const v = sweeps.flatMap((sweep) => sweep.rows.map((row) => row.values[field])).filter(Number.isFinite);
  return v.length > 0 && v.every((x) => x > 0) && Math.max(...v) >= 10 * Math.min(...v);
}

/** Marks of the baselines on the trend plots. */
const BASELINE_COLOR = '#ffd700';

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');

/** The numeric columns analysed: the design parameters, the complexity measures, then the sampled recipe fields. */
const ALL_FIELDS = [...PARAM_COLUMNS, ...COMPLEXITY_COLUMNS, ...HYPER_COLUMNS] as NumericField[];

function seedFor(base: number, k: number): number {
  return (base + 0x9e3779b1 * (k + 1)) % 4294967296;
}

const colorOf = (sweepIndex: number) => PALETTE[sweepIndex % PALETTE.length]!;

interface Figure {
  file: string;
  caption: string;
  svg: string;
}

/** A plot to write, or why it was not drawn. */
type PlotOutcome = Figure | { skipped: string };

/** What the plots are drawn from. */
interface PlotContext {
  /** the sweeps with rows, each with its index in stats (which also picks its colour and bootstrap seeds) */
  sweeps: Array<{ sweep: Sweep; index: number }>;
  stats: SweepStats[];
  rounds: number;
  seed: number;
  bins: number;
  /** the fields plotted on a log axis */
  log: Set<NumericField>;
  baselines: Baseline[];
}

/** Analyse sweep CSVs and write plots and report.html into outDir. */
export function analyzeSweeps(files: string[], outDir: string, opts: AnalyzeOptions = {}): AnalyzeResult {
  const read = readSweeps(files);
  // a file of baselines alone is analysed as a sweep of its own
  const split = read.some((sweep) => !sweep.baseline && sweep.rows.length > 0);
  const sweeps = split ? read.filter((sweep) => !sweep.baseline) : read;
  const baselineGroups = split ? read.filter((sweep) => sweep.baseline) : [];
  const baselines: Baseline[] = baselineGroups.flatMap((group) =>
    group.rows.map((row) => ({ label: baselineGroups.length > 1 ? `${row.model} [${basename(group.file)}]` : row.model, row })),
  );
  if (sweeps.every((sweep) => sweep.rows.length === 0)) {
    const skipped = sweeps.reduce((n, sweep) => n + sweep.skipped, 0);
    throw new UsageError(
      `${files.join(', ')}: no rows with status ok and a finite top-1 error (${skipped} rows skipped); nothing to analyse`,
    );
  }
  const rounds = opts.bootstrap ?? 2500;
  const seed = opts.seed ?? 0;
  const topCount = opts.top ?? 5;
  // recipe fields count where some model has a value (a sweep that samples them)
  const fields = ALL_FIELDS.filter(
    (field) => !isHyper(field) || sweeps.some((sweep) => sweep.rows.some((row) => Number.isFinite(row.values[field]))),
  );
  const log = new Set(fields.filter((field) => logAxis(field, sweeps)));
  const stats = sweeps.map((sweep, sweepIndex) =>
    sweepStats(sweep, { rounds, seed: seedFor(seed, sweepIndex), topCount, fields, log, baselines }),
  );

  const context: PlotContext = {
    sweeps: sweeps.map((sweep, index) => ({ sweep, index })).filter(({ sweep }) => sweep.rows.length > 0),
    stats,
    rounds,
    seed,
    bins: opts.bins ?? 8,
    log,
    baselines,
  };
  const plots = [edfPlot(context), ...fields.map((field, fieldIndex) => errorVsFieldPlot(context, field, fieldIndex)), widthsPlot(context)];

  const written: string[] = [];
  const skipped: string[] = [];
  const figures: Figure[] = [];
  for (const plot of plots) {
    if ('skipped' in plot) {
      skipped.push(plot.skipped);
      continue;
    }
    const path = join(outDir, plot.file);
    writeFileAtomic(path, plot.svg + '\n');
    written.push(path);
    figures.push(plot);
  }

  const modelsPath = join(outDir, 'models.csv');
  writeFileAtomic(modelsPath, modelsCsv(stats, baselines, fields));
  written.push(modelsPath);
  const text = textSummary(stats, skipped, outDir);
  const html = renderHtml(stats, figures, files, rounds, seed);
  const htmlPath = join(outDir, 'report.html');
  writeFileAtomic(htmlPath, html);
  written.push(htmlPath);
  const summaryPath = join(outDir, 'summary.json');
  writeFileAtomic(summaryPath, JSON.stringify(stats.map(jsonStats), null, 2) + '\n');
  written.push(summaryPath);
  return { sweeps: stats, files: written, skipped, text };
}

/** Error summary, bootstrap of the best model, rank correlations and the best rows of one sweep. */
function sweepStats(
  sweep: Sweep,
  opts: { rounds: number; seed: number; topCount: number; fields: NumericField[]; log: Set<NumericField>; baselines: Baseline[] },
): SweepStats {
  const errors = sweep.rows.map((row) => row.err);
  const values: Record<string, number[]> = {};
  for (const field of opts.fields) values[field] = sweep.rows.map((row) => row.values[field]);
  const best = bootstrapBest(errors, values, { samples: opts.rounds, seed: opts.seed });
  const correlations: Partial<Record<NumericField, number>> = {};
  for (const field of opts.fields) if (values[field]!.some(Number.isFinite)) correlations[field] = spearman(values[field]!, errors);
  const trends: Partial<Record<NumericField, Trend>> = {};
  for (const field of opts.fields.filter(isHyper)) {
    const log = opts.log.has(field);
    const xs = values[field]!.map((v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v));
    const fit = quadraticFit(xs, errors);
    if (fit) trends[field] = { ...fit, log, best: log ? 10 ** fit.xBest : fit.xBest };
  }
  const stds = sweep.rows.filter((row) => row.repeats > 1).map((row) => row.errStd);
  const sorted = [...sweep.rows].sort((a, b) => a.err - b.err || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const top = sorted.slice(0, opts.topCount).map((row) => ({
    id: row.id,
    err: row.err,
    e_fit: row.blockWidths.length ? fitRegNet(row.blockWidths).e_fit : undefined,
    row,
  }));
  return {
    name: sweep.name,
    file: sweep.file,
    summary: summarize(errors),
    skipped: sweep.skipped,
    best,
    spearman: correlations,
    top,
    models: sweep.rows,
    maxRepeats: sweep.rows.reduce((m, row) => Math.max(m, row.repeats), 1),
    seedStd: stds.length ? stds.reduce((a, b) => a + b, 0) / stds.length : NaN,
    trends,
    baselines: opts.baselines.map((b) => ({ label: b.label, row: b.row, edf: edfAt(errors, b.row.err) })),
  };
}

/** 1. The error EDFs of all sweeps overlaid. */
function edfPlot(context: PlotContext): PlotOutcome {
  const series: Series[] = [];
  let highestError = -Infinity;
  for (const { sweep } of context.sweeps) for (const row of sweep.rows) highestError = Math.max(highestError, row.err);
  for (const b of context.baselines) highestError = Math.max(highestError, b.row.err);
  for (const { sweep, index } of context.sweeps) {
    const cumulative = edf(sweep.rows.map((row) => row.err));
    const summary = context.stats[index]!.summary;
    series.push({
      kind: 'step',
      name: `${sweep.name} (n=${summary.n}, min=${f2(summary.min)}, mean=${f2(summary.mean)})`,
      x: [cumulative.x[0]!, ...cumulative.x, highestError],
      y: [0, ...cumulative.y, 1],
      color: colorOf(index),
    });
  }
  if (!series.length) return { skipped: 'edf.svg: no rows with status ok' };
  // each baseline on each sweep's curve: the share of the sweep's models below its error
  for (const [k, { sweep, index }] of context.sweeps.entries()) {
    if (!context.baselines.length) break;
    const errors = sweep.rows.map((row) => row.err);
    series.push({
      kind: 'mark',
      name: k === 0 ? 'baselines (zoo models)' : undefined,
      x: context.baselines.map((b) => b.row.err),
      y: context.baselines.map((b) => edfAt(errors, b.row.err)),
      labels: context.baselines.map((b) => (k === 0 ? b.label : '')),
      color: colorOf(index),
      className: 'baseline',
    });
  }
  return {
    file: 'edf.svg',
    caption:
      'Error EDFs: F(e) = fraction of models with error < e. Up and to the left is better.' +
      (context.stats.some((s) => s.maxRepeats > 1) ? ' A model trained with several seeds counts once, at its mean error.' : '') +
      (context.baselines.length ? ' Diamonds: the zoo baselines, on each curve at their error.' : ''),
    svg: renderPlot({
      id: 'edf',
      title: 'Error EDF',
      xLabel: 'top-1 error (%)',
      yLabel: 'cumulative prob.',
      yDomain: [0, 1.02],
      series,
    }),
  };
}

/** 2. Error against one design parameter or complexity measure: a scatter and the bootstrap bands of each sweep. */
function errorVsFieldPlot(context: PlotContext, field: NumericField, fieldIndex: number): PlotOutcome {
  const info = { ...FIELD_INFO[field], log: context.log.has(field) };
  const scatters: Series[] = [];
  const bands: Series[] = [];
  const trends: Series[] = [];
  for (const { sweep, index } of context.sweeps) {
    const fieldValues = sweep.rows.map((row) => row.values[field]);
    const errors = sweep.rows.map((row) => row.err);
    const plottable = fieldValues.filter((value) => Number.isFinite(value) && (!info.log || value > 0)).length;
    if (plottable < 2) continue;
    const rho = context.stats[index]!.spearman[field];
    scatters.push({
      kind: 'scatter',
      name: `${sweep.name} (rho=${Number.isFinite(rho) ? rho!.toFixed(2) : '-'})`,
      x: fieldValues,
      y: errors,
      color: colorOf(index),
    });
    bands.push(...errorBands(context, { sweep, index }, field, fieldIndex));
    const trend = context.stats[index]!.trends[field];
    if (trend) trends.push(trendCurve(sweep, trend, fieldValues, index));
  }
  if (scatters.length === 0) return { skipped: `err_vs_${field}.svg: no column '${field}' values` };
  const marked = context.baselines.filter((b) => Number.isFinite(b.row.values[field]) && (!info.log || b.row.values[field] > 0));
  const marks: Series[] = marked.length
    ? [
        {
          kind: 'mark',
          name: 'baselines (zoo models)',
          x: marked.map((b) => b.row.values[field]),
          y: marked.map((b) => b.row.err),
          labels: marked.map((b) => b.label),
          color: BASELINE_COLOR,
          className: 'baseline',
        },
      ]
    : [];
  // a log axis over a few distinct values (group widths 8/16/32/64) that models share is easiest to read
  // ticked at them (a handful of models with distinct flops is not: their ticks would collide)
  const plotted = [
    ...context.sweeps.flatMap(({ sweep }) => sweep.rows.map((row) => row.values[field])),
    ...marked.map((b) => b.row.values[field]),
  ].filter((value) => Number.isFinite(value) && value > 0);
  const distinct = [...new Set(plotted)].sort((a, b) => a - b);
  const xTicks = info.log && distinct.length <= 8 && distinct.length < plotted.length ? distinct : undefined;
  return {
    file: `err_vs_${field}.svg`,
    caption:
      `Error vs ${info.label}. Shaded curve: bootstrapped min error per bin (2.5-97.5%, line = median); vertical band: ` +
      `95% bootstrap range of the best model's ${field} (dashed = median).` +
      (trends.length ? ` Dotted: least-squares parabola of error against ${info.log ? `log10 ${field}` : field}.` : '') +
      (marks.length ? ' Diamonds: the zoo baselines.' : ''),
    svg: renderPlot({
      id: `err-${field}`,
      title: `Error vs ${field}`,
      xLabel: info.label + (info.log ? ' (log)' : ''),
      yLabel: 'top-1 error (%)',
      xLog: info.log,
      xTicks,
      xInteger: field === 'depth',
      series: [...bands, ...scatters, ...trends, ...marks],
    }),
  };
}

/** One sweep's bootstrapped min-error band over binned field values, and the vertical band of its best model's value. */
function errorBands(context: PlotContext, entry: { sweep: Sweep; index: number }, field: NumericField, fieldIndex: number): Series[] {
  const { sweep, index } = entry;
  const fieldValues = sweep.rows.map((row) => row.values[field]);
  const errors = sweep.rows.map((row) => row.err);
  const bands: Series[] = [];
  const bandSeed = seedFor(context.seed, 1000 + 16 * index + fieldIndex);
  const band = bootstrapBinnedMin(fieldValues, errors, {
    bins: context.bins,
    log: context.log.has(field),
    samples: Math.min(context.rounds, 1000),
    seed: bandSeed,
  });
  if (band.x.length)
    bands.push({ kind: 'band', name: undefined, x: band.x, lo: band.lo, hi: band.hi, mid: band.mid, color: colorOf(index), opacity: 0.16 });
  const bestRange = context.stats[index]!.best.values[field];
  if (bestRange && bestRange.every(Number.isFinite)) {
    bands.push({
      kind: 'vband',
      name: `${sweep.name} best region [${formatTick(Number(bestRange[0].toPrecision(3)))}, ${formatTick(Number(bestRange[2].toPrecision(3)))}]`,
      x0: bestRange[0],
      x1: bestRange[2],
      mid: bestRange[1],
      color: colorOf(index),
      opacity: 0.1,
    });
  }
  return bands;
}

/** The fitted parabola of a trend over the range of the field's values, as a dotted line. */
function trendCurve(sweep: Sweep, trend: Trend, fieldValues: number[], index: number): Series {
  const finite = fieldValues.filter((v) => Number.isFinite(v) && (!trend.log || v > 0));
  const toT = (v: number) => (trend.log ? Math.log10(v) : v);
  const lo = toT(Math.min(...finite));
  const hi = toT(Math.max(...finite));
  const t = Array.from({ length: 41 }, (_, k) => lo + ((hi - lo) * k) / 40);
  return {
    kind: 'line',
    name: `${sweep.name} trend: best ${formatTick(Number(trend.best.toPrecision(3)))}${trend.interior ? '' : ' (range end)'}, R2=${f2(trend.r2)}`,
    x: t.map((v) => (trend.log ? 10 ** v : v)),
    y: t.map((v) => trend.a * v * v + trend.b * v + trend.c),
    color: colorOf(index),
    dash: '2 3',
    width: 1.5,
  };
}

/** 3. Per-block widths of the best and worst model of each sweep, and the fit of the overall best. */
function widthsPlot(context: PlotContext): PlotOutcome {
  const series: Series[] = [];
  let overallBest: AnalysisRow | undefined;
  for (const { sweep, index } of context.sweeps) {
    const withWidths = sweep.rows.filter((row) => row.blockWidths.length > 0);
    if (withWidths.length === 0) continue;
    const sorted = [...withWidths].sort((a, b) => a.err - b.err || (a.id < b.id ? -1 : 1));
    const best = sorted[0]!;
    const worst = sorted[sorted.length - 1]!;
    if (!overallBest || best.err < overallBest.err) overallBest = best;
    const blockIndices = (row: AnalysisRow) => row.blockWidths.map((_, j) => j + 1);
    series.push({
      kind: 'line',
      name: `${sweep.name} best ${best.id} (err ${f2(best.err)})`,
      x: blockIndices(best),
      y: best.blockWidths,
      color: colorOf(index),
      markers: true,
    });
    if (worst !== best)
      series.push({
        kind: 'line',
        name: `${sweep.name} worst ${worst.id} (err ${f2(worst.err)})`,
        x: blockIndices(worst),
        y: worst.blockWidths,
        color: colorOf(index),
        dash: '6 4',
        width: 1.5,
      });
  }
  if (!overallBest) return { skipped: 'widths.svg: no stage_widths/stage_depths or w0/wa/wm/depth values' };
  const fit = fitRegNet(overallBest.blockWidths);
  series.push({
    kind: 'line',
    name: `fit of ${overallBest.id}: w0=${fit.w0} wa=${fit.wa.toFixed(2)} wm=${fit.wm.toFixed(3)} e_fit=${fit.e_fit.toFixed(3)}`,
    x: fit.fitted_widths.map((_, j) => j + 1),
    y: fit.fitted_widths,
    color: '#000000',
    dash: '2 3',
    width: 1.5,
  });
  return {
    file: 'widths.svg',
    caption:
      'Per-block widths of the best (solid) and worst (dashed) model of each sweep; dotted black: quantized-linear fit of the best model.',
    svg: renderPlot({
      id: 'widths',
      title: 'Per-block widths: best vs worst',
      xLabel: 'block index j',
      yLabel: 'width w_j (log)',
      yLog: true,
      xInteger: true,
      series,
    }),
  };
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** The sampled recipe fields some model of the sweep has a value for. */
const hyperFieldsOf = (s: SweepStats) => HYPER_COLUMNS.filter((field) => s.models.some((row) => Number.isFinite(row.values[field])));

function jsonStats(s: SweepStats) {
  return {
    name: s.name,
    file: s.file,
    ...s.summary,
    skipped: s.skipped,
    best_err_ci: s.best.err,
    best_region: s.best.values,
    spearman: s.spearman,
    top: s.top.map((t) => ({ id: t.id, err: t.err, e_fit: t.e_fit ?? null })),
    repeats: s.maxRepeats,
    seed_std: finiteOrNull(s.seedStd),
    trends: Object.fromEntries(
      Object.entries(s.trends).map(([field, t]) => [
        field,
        { axis: t.log ? 'log10' : 'linear', a: t.a, b: t.b, c: t.c, r2: finiteOrNull(t.r2), n: t.n, best: t.best, interior: t.interior },
      ]),
    ),
    baselines: s.baselines.map((b) => ({
      model: b.label,
      err: b.row.err,
      err_std: finiteOrNull(b.row.errStd),
      repeats: b.row.repeats,
      edf: b.edf,
    })),
  };
}

/** One line per model: its mean error over the ok repeats, their standard deviation, and its values. */
function modelsCsv(stats: SweepStats[], baselines: Baseline[], fields: NumericField[]): string {
  const columns = ['sweep', 'id', 'model', 'baseline', 'repeats', 'err_mean', 'err_std', ...fields];
  const line = (sweep: string, row: AnalysisRow, baseline: boolean) => ({
    sweep,
    id: row.id,
    model: row.model,
    baseline: String(baseline),
    repeats: row.repeats,
    err_mean: Number(row.err.toPrecision(10)),
    err_std: Number.isFinite(row.errStd) ? Number(row.errStd.toPrecision(10)) : '',
    ...Object.fromEntries(fields.map((field) => [field, Number.isFinite(row.values[field]) ? row.values[field] : ''])),
  });
  return toCsv(columns, [
    ...stats.flatMap((s) => s.models.map((row) => line(s.name, row, false))),
    ...baselines.map((b) => line('baselines', b.row, true)),
  ]);
}

function topColumns(s: SweepStats): { header: string[]; rows: string[][] } {
  const hyper = hyperFieldsOf(s);
  const repeats = s.maxRepeats > 1;
  const header = [
    '#',
    'id',
    'err',
    ...(repeats ? ['std', 'runs'] : []),
    'flops',
    'params',
    'd',
    'w0',
    'wa',
    'wm',
    'g',
    ...hyper,
    'stage widths',
    'e_fit',
  ];
  const rows = s.top.map((t, k) => {
    const v = t.row.values;
    const n = (x: number, f = (y: number) => String(y)) => (Number.isFinite(x) ? f(x) : '-');
    return [
      String(k + 1),
      t.id,
      f2(t.err),
      ...(repeats ? [f2(t.row.errStd), String(t.row.repeats)] : []),
      n(v.flops, formatTick),
      n(v.params, formatTick),
      n(v.depth),
      n(v.w0),
      n(v.wa),
      n(v.wm),
      n(v.group_size),
      ...hyper.map((field) => n(v[field])),
      t.row.stageWidths.length ? t.row.stageWidths.join('-') : '-',
      t.e_fit === undefined ? '-' : t.e_fit.toFixed(3),
    ];
  });
  return { header, rows };
}

function textSummary(stats: SweepStats[], skipped: string[], outDir: string): string {
  const lines: string[] = [];
  lines.push(
    renderTable(
      ['sweep', 'n', 'skipped', 'min', 'mean', 'median', 'max', 'best err 95% CI'],
      stats.map((s) => [
        s.name,
        String(s.summary.n),
        String(s.skipped),
        f2(s.summary.min),
        f2(s.summary.mean),
        f2(s.summary.median),
        f2(s.summary.max),
        `${f2(s.best.err[0])}..${f2(s.best.err[2])}`,
      ]),
    ),
  );
  for (const s of stats.filter((sweep) => sweep.maxRepeats > 1)) {
    lines.push(
      '',
      `${s.name}: models trained with up to ${s.maxRepeats} seeds; errors, EDFs and trends use each model's mean over its ok runs ` +
        `(mean std across seeds ${f2(s.seedStd)}; per model in models.csv)`,
    );
  }
  const trends = trendRows(stats);
  if (trends.length) lines.push('', 'error vs sampled recipe fields (quadratic trend):', renderTable(TREND_HEADER, trends));
  const marks = baselineRows(stats);
  if (marks.length) lines.push('', 'baselines:', renderTable(baselineHeader(stats), marks));
  for (const s of stats) {
    if (s.top.length === 0) continue;
    lines.push('', `top ${s.top.length} of ${s.name}:`);
    const t = topColumns(s);
    lines.push(renderTable(t.header, t.rows));
  }
  for (const k of skipped) lines.push(`skipped ${k}`);
  lines.push('', `report: ${join(outDir, 'report.html')}`);
  return lines.join('\n');
}

const TREND_HEADER = ['sweep', 'field', 'n', 'rho', 'best region [2.5, 50, 97.5]%', 'fit axis', 'fit best', 'fit R2'];

/** Per sweep and sampled recipe field: rank correlation, bootstrap best region and the quadratic trend's lowest point. */
function trendRows(stats: SweepStats[]): string[][] {
  const tick = (v: number) => (Number.isFinite(v) ? formatTick(Number(v.toPrecision(3))) : '-');
  return stats.flatMap((s) =>
    (Object.entries(s.trends) as Array<[NumericField, Trend]>).map(([field, t]) => [
      s.name,
      field,
      String(t.n),
      Number.isFinite(s.spearman[field] ?? NaN) ? s.spearman[field]!.toFixed(2) : '-',
      (s.best.values[field] ?? []).map(tick).join(', '),
      t.log ? 'log10' : 'linear',
      `${tick(t.best)}${t.interior ? '' : ' (range end)'}`,
      f2(t.r2),
    ]),
  );
}

function baselineHeader(stats: SweepStats[]): string[] {
  const repeats = stats.some((s) => s.baselines.some((b) => b.row.repeats > 1));
  return ['baseline', 'err', ...(repeats ? ['std', 'runs'] : []), ...stats.map((s) => `share of ${s.name} below`)];
}

/** Each baseline's error and, per sweep, the fraction of its models with a lower error (the EDF at the baseline). */
function baselineRows(stats: SweepStats[]): string[][] {
  const first = stats[0];
  if (!first) return [];
  const repeats = stats.some((s) => s.baselines.some((b) => b.row.repeats > 1));
  return first.baselines.map((b, k) => [
    b.label,
    f2(b.row.err),
    ...(repeats ? [f2(b.row.errStd), String(b.row.repeats)] : []),
    ...stats.map((s) => f2(s.baselines[k]!.edf)),
  ]);
}

function htmlTable(header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${escapeXml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

const REPORT_STYLE = `body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 8px 20px; }
figure { margin: 0 0 16px; width: 640px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; }
.note { font-size: 12px; color: #555; }`;

/** The report's tables: error summary, best region, rank correlations and the best models of each sweep. */
function htmlTables(stats: SweepStats[]): {
  summary: string;
  region: string;
  correlations: string;
  tops: string;
  trends: string;
  baselines: string;
} {
  const fields = ALL_FIELDS.filter((field) => stats.some((sweep) => sweep.spearman[field] !== undefined));
  const summary = htmlTable(
    ['sweep', 'file', 'n', 'skipped', 'min', 'mean', 'median', 'max', 'best err 2.5%', 'best err 50%', 'best err 97.5%'],
    stats.map((sweep) => [
      sweep.name,
      sweep.file,
      String(sweep.summary.n),
      String(sweep.skipped),
      f2(sweep.summary.min),
      f2(sweep.summary.mean),
      f2(sweep.summary.median),
      f2(sweep.summary.max),
      f2(sweep.best.err[0]),
      f2(sweep.best.err[1]),
      f2(sweep.best.err[2]),
    ]),
  );
  const correlations = htmlTable(
    ['sweep', ...fields.map((field) => `rho(${field}, err)`)],
    stats.map((sweep) => [
      sweep.name,
      ...fields.map((field) =>
        sweep.spearman[field] !== undefined && Number.isFinite(sweep.spearman[field]!) ? sweep.spearman[field]!.toFixed(2) : '-',
      ),
    ]),
  );
  const region = htmlTable(
    ['sweep', ...fields.map((field) => `best ${field} [2.5, 50, 97.5]%`)],
    stats.map((sweep) => [
      sweep.name,
      ...fields.map((field) => {
        const range = sweep.best.values[field];
        return range && range.every(Number.isFinite) ? range.map((x) => formatTick(Number(x.toPrecision(3)))).join(', ') : '-';
      }),
    ]),
  );
  const tops = stats
    .filter((sweep) => sweep.top.length)
    .map((sweep) => {
      const columns = topColumns(sweep);
      return `<h3>Top ${sweep.top.length}: ${escapeXml(sweep.name)}</h3>\n${htmlTable(columns.header, columns.rows)}`;
    })
    .join('\n');
  const trends = trendRows(stats);
  const marks = baselineRows(stats);
  return {
    summary,
    region,
    correlations,
    tops,
    trends: trends.length ? htmlTable(TREND_HEADER, trends) : '',
    baselines: marks.length ? htmlTable(baselineHeader(stats), marks) : '',
  };
}

function renderHtml(stats: SweepStats[], figures: Figure[], files: string[], rounds: number, seed: number): string {
  const tables = htmlTables(stats);
  const figureHtml = figures
    .map(
      (figure) =>
        `<figure id="${escapeXml(figure.file)}">\n${figure.svg}\n<figcaption>${escapeXml(figure.file)}: ${escapeXml(figure.caption)}</figcaption>\n</figure>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>regnet design-space analysis</title>
<style>
${REPORT_STYLE}
</style>
</head>
<body>
<h1>Design-space analysis</h1>
<p class="note">Sweeps: ${files.map((f) => escapeXml(f)).join(', ')}. Only rows with status ok count. Bootstrap: ${rounds} rounds of 25% of the models drawn with replacement, seed ${seed}.${
    stats.some((s) => s.maxRepeats > 1)
      ? ' Models trained with several seeds count once, at their mean error over the ok runs (mean and std per model in models.csv).'
      : ''
  }</p>
<h2>Summary (top-1 error, %)</h2>
${tables.summary}
<h2>Best region (bootstrap of the best model)</h2>
${tables.region}
<h2>Rank correlation with error (Spearman)</h2>
${tables.correlations}
${tables.trends ? `<h2>Error vs sampled recipe fields (quadratic trend)</h2>\n${tables.trends}\n` : ''}${tables.baselines ? `<h2>Baselines (zoo models)</h2>\n${tables.baselines}\n` : ''}<h2>Best models</h2>
${tables.tops}
<h2>Plots</h2>
<div class="plots">
${figureHtml}
</div>
</body>
</html>
`;
}
