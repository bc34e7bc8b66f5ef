/**
 * `regnet compare` core: side-by-side rows of structure, exact complexity, measured throughput (models
 * stepped round-robin by src/bench/measure.ts), reference and user top-1, with ratios to the first model;
 * renderers for table / markdown / csv / json, and an accuracy-or-throughput vs flops SVG over the zoo's
 * reference curves.
 */
import { complexity } from '../arch/complexity.js';
import type { Network } from '../arch/ir.js';
import { summarize } from '../arch/summary.js';
import { buildFromSpec, buildModel, zooEntry, zooNames } from '../arch/zoo.js';
import { renderPlot, type Series } from '../analyze/svg.js';
import type { Engine } from '../engine/types.js';
import { primaryTop1, referenceTop1, userTop1, type UserTop1 } from '../results/reference-top1.js';
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

export interface CompareRow {
  model: string;
  family: string;
  res: number;
  params: number;
  macs: number;
  flops: number;
  acts: number;
  stage_widths: number[];
  stage_depths: number[];
  stage_group_widths: number[];
  batch_size: number | null;
  engine: string | null;
  threads: number | null;
  infer_samples_per_sec: number | null;
  infer_step_time: number | null;
  train_samples_per_sec: number | null;
  train_step_time: number | null;
  ref_top1: number | null;
  ref_top1_weights: string | null;
  ref_top1_source: string | null;
  ref_top1_modern: number | null;
  ref_top1_modern_img_size: number | null;
  ref_top1_modern_weights: string | null;
  ref_top1_modern_source: string | null;
  ref_top1_paper: number | null;
  own_top1: UserTop1[];
  params_ratio: number;
  flops_ratio: number;
  acts_ratio: number;
  infer_ratio: number | null;
  train_ratio: number | null;
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

export function compareRows(models: CompareModel[], opts: { resultsDir: string; throughput?: Throughput[]; batch?: number; engine?: Engine['info'] }): CompareRow[] {
  const rows = models.map((m, i): CompareRow => {
    const s = summarize(m.net);
    const ref = m.zoo ? referenceTop1(m.zoo) : {};
    const tp = opts.throughput?.[i];
    return {
      model: m.name,
      family: s.family,
      res: s.res,
      params: s.params,
      macs: s.macs,
      flops: s.flops,
      acts: s.acts,
      stage_widths: s.stage_widths,
      stage_depths: s.stage_depths,
      stage_group_widths: s.stage_group_widths,
      batch_size: tp ? (opts.batch ?? null) : null,
      engine: tp ? (opts.engine?.engine ?? null) : null,
      threads: tp ? (opts.engine?.threads ?? null) : null,
      infer_samples_per_sec: tp?.infer?.samplesPerSec ?? null,
      infer_step_time: tp?.infer?.stepTimeMs ?? null,
      train_samples_per_sec: tp?.train?.samplesPerSec ?? null,
      train_step_time: tp?.train?.stepTimeMs ?? null,
      ref_top1: ref.original?.top1 ?? null,
      ref_top1_weights: ref.original?.weights ?? null,
      ref_top1_source: ref.original?.source ?? null,
      ref_top1_modern: ref.modern?.top1 ?? null,
      ref_top1_modern_img_size: ref.modern?.img_size ?? null,
      ref_top1_modern_weights: ref.modern?.weights ?? null,
      ref_top1_modern_source: ref.modern?.source ?? null,
      ref_top1_paper: ref.paper?.top1 ?? null,
      own_top1: userTop1(opts.resultsDir, m.name),
      params_ratio: 1,
      flops_ratio: 1,
      acts_ratio: 1,
      infer_ratio: null,
      train_ratio: null,
    };
  });
  const first = rows[0];
  if (first) {
    for (const r of rows) {
      r.params_ratio = ratio(r.params, first.params);
      r.flops_ratio = ratio(r.flops, first.flops);
      r.acts_ratio = ratio(r.acts, first.acts);
      if (r.infer_samples_per_sec !== null && first.infer_samples_per_sec !== null) r.infer_ratio = ratio(r.infer_samples_per_sec, first.infer_samples_per_sec);
      if (r.train_samples_per_sec !== null && first.train_samples_per_sec !== null) r.train_ratio = ratio(r.train_samples_per_sec, first.train_samples_per_sec);
    }
  }
  return rows;
}

const fx = (v: number | null, d = 2) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));
const fr = (v: number | null) => (v === null || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);
const list = (v: number[]) => v.join(',');
const own = (u: UserTop1[]) => (u.length ? u.map((x) => `${x.top1.toFixed(3)} (${x.dataset}@${x.img_size})`).join('; ') : '-');

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
  add('top1 ref (original)', (r) => (r.ref_top1 === null ? '-' : r.ref_top1.toFixed(3)));
  add('top1 ref (modern)', (r) => (r.ref_top1_modern === null ? '-' : `${r.ref_top1_modern.toFixed(3)}${r.ref_top1_modern_img_size !== 224 ? ` @${r.ref_top1_modern_img_size}` : ''}`));
  add('top1 paper (pycls)', (r) => (r.ref_top1_paper === null ? '-' : r.ref_top1_paper.toFixed(1)));
  add('top1 own results', (r) => own(r.own_top1));
  return out;
}

export function headerLine(rows: CompareRow[]): string {
  const r = rows[0];
  if (!r) return '';
  const bench = rows.find((x) => x.engine !== null);
  return `${r.res}x${r.res}` + (bench ? `, batch ${bench.batch_size}, engine ${bench.engine} (${bench.threads} thread${bench.threads === 1 ? '' : 's'})` : ', complexity only');
}

export function renderCompareTable(rows: CompareRow[]): string {
  const body = attributeRows(rows);
  const align = [false, ...rows.map(() => true)];
  return `compare at ${headerLine(rows)}\n\n` + renderTable(['', ...rows.map((r) => r.model)], body, align) + '\n';
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|');

export function renderCompareMarkdown(rows: CompareRow[]): string {
  const body = attributeRows(rows);
  const head = ['', ...rows.map((r) => r.model)];
  const lines = [
    `Compared at ${headerLine(rows)}.`,
    '',
    `| ${head.map(mdCell).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

export const COMPARE_CSV_COLUMNS = [
  'model', 'family', 'img_size', 'params', 'flops', 'macs', 'acts', 'stage_widths', 'stage_depths', 'stage_group_widths',
  'batch_size', 'engine', 'threads', 'infer_samples_per_sec', 'infer_step_time', 'train_samples_per_sec', 'train_step_time',
  'params_ratio', 'flops_ratio', 'acts_ratio', 'infer_ratio', 'train_ratio',
  'ref_top1', 'ref_top1_weights', 'ref_top1_modern', 'ref_top1_modern_img_size', 'ref_top1_modern_weights', 'ref_top1_paper', 'own_top1',
] as const;

export function renderCompareCsv(rows: CompareRow[]): string {
  const n = (v: number | null, d: number) => (v === null || !Number.isFinite(v) ? '' : v.toFixed(d));
  return toCsv(
    [...COMPARE_CSV_COLUMNS],
    rows.map((r) => ({
      model: r.model,
      family: r.family,
      img_size: r.res,
      params: r.params,
      flops: r.flops,
      macs: r.macs,
      acts: r.acts,
      stage_widths: r.stage_widths.join(' '),
      stage_depths: r.stage_depths.join(' '),
      stage_group_widths: r.stage_group_widths.join(' '),
      batch_size: r.batch_size ?? '',
      engine: r.engine ?? '',
      threads: r.threads ?? '',
      infer_samples_per_sec: n(r.infer_samples_per_sec, 2),
      infer_step_time: n(r.infer_step_time, 3),
      train_samples_per_sec: n(r.train_samples_per_sec, 2),
      train_step_time: n(r.train_step_time, 3),
      params_ratio: n(r.params_ratio, 4),
      flops_ratio: n(r.flops_ratio, 4),
      acts_ratio: n(r.acts_ratio, 4),
      infer_ratio: n(r.infer_ratio, 4),
      train_ratio: n(r.train_ratio, 4),
      ref_top1: n(r.ref_top1, 3),
      ref_top1_weights: r.ref_top1_weights ?? '',
      ref_top1_modern: n(r.ref_top1_modern, 3),
      ref_top1_modern_img_size: r.ref_top1_modern_img_size ?? '',
      ref_top1_modern_weights: r.ref_top1_modern_weights ?? '',
      ref_top1_paper: n(r.ref_top1_paper, 1),
      own_top1: r.own_top1.map((u) => `${u.dataset}:${u.top1}`).join(' '),
    })),
  );
}

export function renderCompareJson(rows: CompareRow[]): string {
  return JSON.stringify(rows, null, 2) + '\n';
}

export type PlotY = 'accuracy' | 'throughput';

/** Top-1 shown for a compared model on the accuracy plot: reference (original/paper), else the user's best. */
function plotTop1(r: CompareRow): number | null {
  if (r.ref_top1 !== null) return r.ref_top1;
  if (r.ref_top1_paper !== null) return r.ref_top1_paper;
  if (r.own_top1.length) return Math.max(...r.own_top1.map((u) => u.top1));
  return null;
}

/**
 * Accuracy (or measured inference throughput) against flops. Accuracy plots draw the zoo's RegNetX,
 * RegNetY and ResNet families (flops at 224, reference top-1) as curves under the compared models;
 * the compared models use flops at 224 too, so they sit on the same axis as the reference numbers.
 */
export function renderComparePlot(rows: CompareRow[], models: CompareModel[], y: PlotY): { svg: string; skipped: string[] } {
  const series: Series[] = [];
  const skipped: string[] = [];
  if (y === 'accuracy') {
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
    for (const [k, pts] of Object.entries(fam)) {
      pts.sort((a, b) => a.x - b.x);
      if (pts.length) series.push({ kind: 'line', name: names[k], x: pts.map((p) => p.x), y: pts.map((p) => p.y), color: colors[k], markers: true, dash: k === 'resnet' ? '6 3' : undefined });
    }
  }
  const marks = ['#d62728', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
  rows.forEach((r, i) => {
    const v = y === 'accuracy' ? plotTop1(r) : r.infer_samples_per_sec;
    if (v === null) {
      skipped.push(r.model);
      return;
    }
    const x = y === 'accuracy' ? complexity(models[i]!.net.res[1] === 224 ? models[i]!.net : rebuildAt224(models[i]!)).flops : r.flops;
    series.push({ kind: 'scatter', name: r.model, x: [x], y: [v], color: marks[i % marks.length], radius: 6 });
  });
  const first = rows[0];
  const svg = renderPlot({
    title: y === 'accuracy' ? 'ImageNet top-1 vs flops (reference weights, 224x224)' : `Inference throughput vs flops (${first ? headerLine(rows) : ''})`,
    xLabel: y === 'accuracy' ? 'flops at 224x224' : `flops at ${first?.res ?? 224}x${first?.res ?? 224}`,
    yLabel: y === 'accuracy' ? 'top-1 (%)' : 'samples/s',
    xLog: true,
    yLog: y === 'throughput',
    series,
  });
  return { svg, skipped };
}

/** The same architecture at the reference resolution (only spatial sizes, so flops, change). */
function rebuildAt224(m: CompareModel): Network {
  return buildFromSpec(m.net.spec, { res: 224, numClasses: m.net.numClasses, inChans: m.net.inChans }, m.name);
}
