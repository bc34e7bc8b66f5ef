/**
 * `regnet compare` core: side-by-side rows of structure, exact complexity, measured throughput (models
 * stepped round-robin by src/bench/measure.ts), reference and user top-1, with ratios to the first model;
 * renderers for table / markdown / csv / json (plain numeric columns), and an accuracy-or-throughput vs
 * flops SVG (over the zoo's reference curves when ImageNet at 224 px is what is compared).
 */
import { complexity } from '../arch/complexity.js';
import type { Network } from '../arch/ir.js';
import { summarize } from '../arch/summary.js';
import type { Stem } from '../arch/spec.js';
import { buildModel, zooEntry, zooNames } from '../arch/zoo.js';
import { renderPlot, type Series } from '../analyze/svg.js';
import type { Engine } from '../engine/types.js';
import { ownResults } from '../results/own-results.js';
import { primaryTop1, referenceTop1, type ModelReference } from '../results/reference-top1.js';
import { toCsv } from '../results/csv.js';
import { fmtInt } from '../util/format.js';
import { renderTable } from '../util/table.js';
import { measure, type Mode } from './measure.js';

export interface CompareModel {
  name: string;
  /** zoo name when the model is one (reference top-1 and plot curves are looked up by it) */
  zoo?: string;
  net: Network;
}

/** What the compared networks are built for, and whose results (results-<dataset>*.csv) are shown. */
export interface CompareSetting {
  dataset: string;
  imgSize: number;
  inChans: number;
  numClasses: number;
  stem: Stem;
}

/**
 * One compared model, flat: the columns of `--format csv` in order (JSON has the same keys; the stage
 * lists are arrays there). top1/top5 are the user's own result for this network on the dataset; ref_* are
 * published ImageNet numbers, filled only when the dataset is ImageNet.
 */
export interface CompareRow {
  model: string;
  params: number;
  flops: number;
  acts: number;
  infer_samples_per_sec: number | null;
  train_samples_per_sec: number | null;
  top1: number | null;
  top5: number | null;
  ref_top1: number | null;
  ref_top1_modern: number | null;
  ref_top1_paper: number | null;
  family: string;
  dataset: string;
  img_size: number;
  in_chans: number;
  stem: Stem;
  num_classes: number;
  macs: number;
  stage_widths: number[];
  stage_depths: number[];
  stage_group_widths: number[];
  batch_size: number | null;
  engine: string | null;
  threads: number | null;
  infer_step_time: number | null;
  train_step_time: number | null;
  params_ratio: number;
  flops_ratio: number;
  acts_ratio: number;
  infer_ratio: number | null;
  train_ratio: number | null;
  ref_top1_weights: string | null;
  ref_top1_source: string | null;
  ref_top1_modern_img_size: number | null;
  ref_top1_modern_weights: string | null;
  ref_top1_modern_source: string | null;
  /** the results file top1/top5 come from (full split preferred, then the best top-1), and how many rows matched */
  results_file: string | null;
  results_rows: number;
}

export interface CompareBenchOptions {
  batch: number;
  warmup: number;
  iters?: number;
  seconds?: number;
  minIters?: number;
  train: boolean;
  seed: number;
  onProgress?: (line: string) => void;
}

export interface Throughput {
  infer?: { samplesPerSec: number; stepTimeMs: number };
  train?: { samplesPerSec: number; stepTimeMs: number };
}

/**
 * Compile every model, then measure inference (and training) with all models interleaved step by step.
 * Inference runs first on the freshly initialised weights, training afterwards.
 */
export async function measureModels(engine: Engine, models: CompareModel[], o: CompareBenchOptions): Promise<Throughput[]> {
  const compiled = models.map((m) => {
    o.onProgress?.(`compiling ${m.name} on ${engine.info.engine}`);
    return engine.compile(m.net);
  });
  try {
    const modes: Mode[] = o.train ? ['infer', 'train'] : ['infer'];
    const out: Throughput[] = models.map(() => ({}));
    for (const mode of modes) {
      const res = await measure(
        compiled.map((net, i) => ({ label: `${mode} ${models[i]!.name}`, net, mode, batch: o.batch })),
        { warmup: o.warmup, iters: o.iters, seconds: o.seconds, minIters: o.minIters, seed: o.seed, onProgress: o.onProgress },
      );
      res.forEach((r, i) => (out[i]![mode] = { samplesPerSec: r.samplesPerSec, stepTimeMs: r.stepTimeMs }));
    }
    return out;
  } finally {
    for (const c of compiled) c.dispose();
  }
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);

export interface CompareRowOptions {
  setting: CompareSetting;
  resultsDir: string;
  throughput?: Throughput[];
  batch?: number;
  engine?: Engine['info'];
}

export function compareRows(models: CompareModel[], opts: CompareRowOptions): CompareRow[] {
  const { setting } = opts;
  const rows = models.map((m, i): CompareRow => {
    const s = summarize(m.net);
    const ref: ModelReference = m.zoo && setting.dataset === 'imagenet' ? referenceTop1(m.zoo) : {};
    const own = ownResults(opts.resultsDir, setting.dataset, {
      model: m.name,
      imgSize: setting.imgSize,
      stem: setting.stem,
      inChans: setting.inChans,
      params: s.params,
      flops: s.flops,
    });
    const tp = opts.throughput?.[i];
    return {
      model: m.name,
      params: s.params,
      flops: s.flops,
      acts: s.acts,
      infer_samples_per_sec: tp?.infer?.samplesPerSec ?? null,
      train_samples_per_sec: tp?.train?.samplesPerSec ?? null,
      top1: own[0]?.top1 ?? null,
      top5: own[0]?.top5 ?? null,
      ref_top1: ref.original?.top1 ?? null,
      ref_top1_modern: ref.modern?.top1 ?? null,
      ref_top1_paper: ref.paper?.top1 ?? null,
      family: s.family,
      dataset: setting.dataset,
      img_size: s.res,
      in_chans: m.net.inChans,
      stem: m.net.stem,
      num_classes: s.num_classes,
      macs: s.macs,
      stage_widths: s.stage_widths,
      stage_depths: s.stage_depths,
      stage_group_widths: s.stage_group_widths,
      batch_size: tp ? (opts.batch ?? null) : null,
      engine: tp ? (opts.engine?.engine ?? null) : null,
      threads: tp ? (opts.engine?.threads ?? null) : null,
      infer_step_time: tp?.infer?.stepTimeMs ?? null,
      train_step_time: tp?.train?.stepTimeMs ?? null,
      params_ratio: 1,
      flops_ratio: 1,
      acts_ratio: 1,
      infer_ratio: null,
      train_ratio: null,
      ref_top1_weights: ref.original?.weights ?? null,
      ref_top1_source: ref.original?.source ?? null,
      ref_top1_modern_img_size: ref.modern?.img_size ?? null,
      ref_top1_modern_weights: ref.modern?.weights ?? null,
      ref_top1_modern_source: ref.modern?.source ?? null,
      results_file: own[0]?.file ?? null,
      results_rows: own.length,
    };
  });
  const first = rows[0];
  if (first) {
    for (const r of rows) {
      r.params_ratio = ratio(r.params, first.params);
      r.flops_ratio = ratio(r.flops, first.flops);
      r.acts_ratio = ratio(r.acts, first.acts);
      if (r.infer_samples_per_sec !== null && first.infer_samples_per_sec !== null)
        r.infer_ratio = ratio(r.infer_samples_per_sec, first.infer_samples_per_sec);
      if (r.train_samples_per_sec !== null && first.train_samples_per_sec !== null)
        r.train_ratio = ratio(r.train_samples_per_sec, first.train_samples_per_sec);
    }
  }
  return rows;
}

const fx = (v: number | null, d = 2) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));
const fr = (v: number | null) => (v === null || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);
const list = (v: number[]) => v.join(',');
const ownFile = (r: CompareRow) =>
  r.results_file === null ? '-' : `${r.results_file}${r.results_rows > 1 ? ` (+${r.results_rows - 1} more)` : ''}`;

/** Attribute rows (label, one cell per model) shared by the table and markdown layouts. */
function attributeRows(rows: CompareRow[]): string[][] {
  const hasInfer = rows.some((r) => r.infer_samples_per_sec !== null);
  const hasTrain = rows.some((r) => r.train_samples_per_sec !== null);
  const out: string[][] = [];
  const add = (label: string, f: (r: CompareRow) => string) => out.push([label, ...rows.map(f)]);
  add('family', (r) => r.family);
  add('stage widths', (r) => list(r.stage_widths));
  add('stage depths', (r) => list(r.stage_depths));
  add('group widths', (r) => list(r.stage_group_widths));
  add('params', (r) => fmtInt(r.params));
  add('params ratio', (r) => fr(r.params_ratio));
  add('flops', (r) => fmtInt(r.flops));
  add('flops ratio', (r) => fr(r.flops_ratio));
  add('acts', (r) => fmtInt(r.acts));
  add('acts ratio', (r) => fr(r.acts_ratio));
  if (hasInfer) {
    add('infer samples/s', (r) => fx(r.infer_samples_per_sec));
    add('infer ratio', (r) => fr(r.infer_ratio));
    add('infer step ms', (r) => fx(r.infer_step_time, 1));
  }
  if (hasTrain) {
    add('train samples/s', (r) => fx(r.train_samples_per_sec));
    add('train ratio', (r) => fr(r.train_ratio));
    add('train step ms', (r) => fx(r.train_step_time, 1));
  }
  if (rows[0]?.dataset === 'imagenet') {
    add('top1 ref (original)', (r) => (r.ref_top1 === null ? '-' : r.ref_top1.toFixed(3)));
    add('top1 ref (modern)', (r) =>
      r.ref_top1_modern === null
        ? '-'
        : `${r.ref_top1_modern.toFixed(3)}${r.ref_top1_modern_img_size !== 224 ? ` @${r.ref_top1_modern_img_size}` : ''}`,
    );
    add('top1 paper (pycls)', (r) => (r.ref_top1_paper === null ? '-' : r.ref_top1_paper.toFixed(1)));
  }
  add('top1 own results', (r) => fx(r.top1, 3));
  add('top5 own results', (r) => fx(r.top5, 3));
  add('own results file', ownFile);
  return out;
}

/** The network setting every row shares, e.g. `imagenet at 224x224 (3 channels, imagenet stem, 1000 classes)`. */
export function settingLine(rows: CompareRow[]): string {
  const r = rows[0];
  if (!r) return '';
  return `${r.dataset} at ${r.img_size}x${r.img_size} (${r.in_chans} channel${r.in_chans === 1 ? '' : 's'}, ${r.stem} stem, ${r.num_classes} classes)`;
}

export function headerLine(rows: CompareRow[]): string {
  const bench = rows.find((x) => x.engine !== null);
  return (
    settingLine(rows) +
    (bench
      ? `, batch ${bench.batch_size}, engine ${bench.engine} (${bench.threads} thread${bench.threads === 1 ? '' : 's'})`
      : ', complexity only')
  );
}

export function renderCompareTable(rows: CompareRow[]): string {
  const body = attributeRows(rows);
  const align = [false, ...rows.map(() => true)];
  return `compare on ${headerLine(rows)}\n\n` + renderTable(['', ...rows.map((r) => r.model)], body, align) + '\n';
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|');

export function renderCompareMarkdown(rows: CompareRow[]): string {
  const body = attributeRows(rows);
  const head = ['', ...rows.map((r) => r.model)];
  const lines = [
    `Compared on ${headerLine(rows)}.`,
    '',
    `| ${head.map(mdCell).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

/** The columns of `--format csv`: the numbers first, plain (no units, no packed strings). */
export const COMPARE_CSV_COLUMNS = [
  'model',
  'params',
  'flops',
  'acts',
  'infer_samples_per_sec',
  'train_samples_per_sec',
  'top1',
  'top5',
  'ref_top1',
  'ref_top1_modern',
  'ref_top1_paper',
  'family',
  'dataset',
  'img_size',
  'in_chans',
  'stem',
  'num_classes',
  'macs',
  'stage_widths',
  'stage_depths',
  'stage_group_widths',
  'batch_size',
  'engine',
  'threads',
  'infer_step_time',
  'train_step_time',
  'params_ratio',
  'flops_ratio',
  'acts_ratio',
  'infer_ratio',
  'train_ratio',
  'ref_top1_weights',
  'ref_top1_source',
  'ref_top1_modern_img_size',
  'ref_top1_modern_weights',
  'ref_top1_modern_source',
  'results_file',
  'results_rows',
] as const satisfies ReadonlyArray<keyof CompareRow>;

/** Decimals of the rounded CSV columns (throughput to 0.01 samples/s, step times to 1 us, accuracy as timm writes it). */
const CSV_DECIMALS: Partial<Record<keyof CompareRow, number>> = {
  infer_samples_per_sec: 2,
  train_samples_per_sec: 2,
  infer_step_time: 3,
  train_step_time: 3,
  top1: 3,
  top5: 3,
  ref_top1: 3,
  ref_top1_modern: 3,
  ref_top1_paper: 1,
  params_ratio: 4,
  flops_ratio: 4,
  acts_ratio: 4,
  infer_ratio: 4,
  train_ratio: 4,
};

export function renderCompareCsv(rows: CompareRow[]): string {
  const cell = (key: keyof CompareRow, v: CompareRow[keyof CompareRow]): string | number => {
    if (v === null) return '';
    if (Array.isArray(v)) return v.join(' ');
    if (typeof v === 'number') {
      const d = CSV_DECIMALS[key];
      return !Number.isFinite(v) ? '' : d === undefined ? v : v.toFixed(d);
    }
    return v;
  };
  return toCsv(
    [...COMPARE_CSV_COLUMNS],
    rows.map((r) => Object.fromEntries(COMPARE_CSV_COLUMNS.map((k) => [k, cell(k, r[k])]))),
  );
}

/** The same keys as the CSV, in order, with numbers as numbers and the stage lists as arrays. */
export function renderCompareJson(rows: CompareRow[]): string {
  return (
    JSON.stringify(
      rows.map((r) => Object.fromEntries(COMPARE_CSV_COLUMNS.map((k) => [k, r[k]]))),
      null,
      2,
    ) + '\n'
  );
}

export type PlotY = 'accuracy' | 'throughput';

/** The reference curves are ImageNet top-1 of the zoo at 224 px: drawn only when that is what is compared. */
export function comparesReference(setting: CompareSetting): boolean {
  return (
    setting.dataset === 'imagenet' &&
    setting.imgSize === 224 &&
    setting.inChans === 3 &&
    setting.numClasses === 1000 &&
    setting.stem === 'imagenet'
  );
}

/** Top-1 of a compared model on the accuracy plot: over the reference curves the reference number, else the user's own. */
function plotTop1(r: CompareRow, reference: boolean): number | null {
  if (reference && r.ref_top1 !== null) return r.ref_top1;
  if (reference && r.ref_top1_paper !== null) return r.ref_top1_paper;
  return r.top1;
}

/** The zoo's RegNetX, RegNetY and ResNet families at 224 px: flops against reference top-1. */
function referenceCurves(): Series[] {
  const fam: Record<string, Array<{ x: number; y: number }>> = { regnetx: [], regnety: [], resnet: [] };
  for (const name of zooNames()) {
    const e = zooEntry(name);
    // the curves follow the paper's models; the _tv/_sgn variants share their flops
    if (/_(tv|sgn)$/.test(name)) continue;
    const t = primaryTop1(name);
    if (t === undefined) continue;
    // curves for the RegNet families and plain ResNets only (ResNeXt, ResNet-D, ... would zigzag the ResNet line)
    fam[e.family]?.push({ x: complexity(buildModel(name, { res: 224 })).flops, y: t });
  }
  const names: Record<string, string> = { regnetx: 'RegNetX (zoo)', regnety: 'RegNetY (zoo)', resnet: 'ResNet (zoo)' };
  const colors: Record<string, string> = { regnetx: '#1f77b4', regnety: '#2ca02c', resnet: '#7f7f7f' };
  const series: Series[] = [];
  for (const [k, pts] of Object.entries(fam)) {
    pts.sort((a, b) => a.x - b.x);
    if (pts.length)
      series.push({
        kind: 'line',
        name: names[k],
        x: pts.map((p) => p.x),
        y: pts.map((p) => p.y),
        color: colors[k],
        markers: true,
        dash: k === 'resnet' ? '6 3' : undefined,
      });
  }
  return series;
}

/**
 * Accuracy (or measured inference throughput) against flops of the compared networks as built. On
 * ImageNet at 224 px the accuracy plot draws the zoo's reference curves under the models (reference
 * top-1, else the user's own); on any other dataset or size only the user's own results are drawn.
 */
export function renderComparePlot(rows: CompareRow[], y: PlotY): { svg: string; skipped: string[] } {
  const first = rows[0];
  const setting = first
    ? { dataset: first.dataset, imgSize: first.img_size, inChans: first.in_chans, numClasses: first.num_classes, stem: first.stem }
    : undefined;
  const reference = y === 'accuracy' && setting !== undefined && comparesReference(setting);
  const series: Series[] = reference ? referenceCurves() : [];
  const skipped: string[] = [];
  const marks = ['#d62728', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
  rows.forEach((r, i) => {
    const v = y === 'accuracy' ? plotTop1(r, reference) : r.infer_samples_per_sec;
    if (v === null) {
      skipped.push(r.model);
      return;
    }
    series.push({ kind: 'scatter', name: r.model, x: [r.flops], y: [v], color: marks[i % marks.length], radius: 6 });
  });
  const size = first ? `${first.img_size}x${first.img_size}` : '';
  const net = first ? `${size}, ${first.in_chans} channel${first.in_chans === 1 ? '' : 's'}, ${first.stem} stem` : '';
  const title =
    y === 'throughput'
      ? `Inference throughput vs flops (${headerLine(rows)})`
      : reference
        ? 'ImageNet top-1 vs flops at 224x224 (zoo curves: reference weights)'
        : `${first?.dataset ?? ''} top-1 vs flops at ${net} (own results)`;
  const svg = renderPlot({
    title,
    xLabel: `flops at ${net}`,
    yLabel: y === 'accuracy' ? `${first?.dataset ?? ''} top-1 (%)` : 'samples/s',
    xLog: true,
    yLog: y === 'throughput',
    series,
  });
  return { svg, skipped };
}
