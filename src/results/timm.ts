/**
 * Result files in the CSV format of pytorch-image-models' `results/` folder (results-imagenet.csv and
 * friends: model, img_size, top1, top1_err, top5, top5_err, param_count, crop_pct, interpolation; and the
 * benchmark CSVs). zod schemas define the rows; timm's columns come first with timm's number formats, so
 * the files diff cleanly against timm's own; results tables add flops, throughput and the run's settings
 * after them (RESULTS_EXTRA_COLUMNS).
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic.js';
import { withLock } from '../util/lock.js';
import { readCsv, toCsv } from './csv.js';

export const RESULTS_COLUMNS = ['model', 'img_size', 'top1', 'top1_err', 'top5', 'top5_err', 'param_count', 'crop_pct', 'interpolation'] as const;

/**
 * After timm's nine columns: what the mission compares (flops, activations, throughput), where it was
 * measured, and what the row's numbers depend on. `arch` is the model spec as JSON, so every row can be
 * rebuilt (and read back as a configs list) without the zoo.
 */
export const RESULTS_EXTRA_COLUMNS = [
  'flops', 'acts', 'infer_samples_per_sec', 'infer_batch_size', 'train_samples_per_sec', 'train_batch_size',
  'engine', 'device', 'threads', 'precision', 'stem', 'in_chans', 'epochs', 'recipe', 'seed', 'arch', 'n_images',
] as const;

/**
 * What identifies a row inside one results-<dataset>[-<split>].csv (the file is the dataset and split):
 * the network plus everything else that changes its numbers. A new row replaces only a row with the same
 * identity; rows of older files lack the extra columns and count them as empty.
 */
export const RESULTS_IDENTITY = ['model', 'img_size', 'stem', 'in_chans', 'recipe', 'seed', 'precision'] as const;

/** Rows written before the precision column were float32. */
const IDENTITY_DEFAULTS: Partial<Record<(typeof RESULTS_IDENTITY)[number], string>> = { precision: 'fp32' };

export const ResultRowSchema = z.object({
  model: z.string().min(1),
  img_size: z.number().int().positive(),
  /** percent */
  top1: z.number().min(0).max(100),
  top5: z.number().min(0).max(100),
  /** exact parameter count (written in millions, 2 decimals) */
  params: z.number().int().nonnegative(),
  crop_pct: z.number().positive(),
  interpolation: z.string().min(1),
  // the extra columns: optional, written empty when unknown
  flops: z.number().int().nonnegative().optional(),
  acts: z.number().int().nonnegative().optional(),
  infer_samples_per_sec: z.number().nonnegative().optional(),
  infer_batch_size: z.number().int().positive().optional(),
  train_samples_per_sec: z.number().nonnegative().optional(),
  train_batch_size: z.number().int().positive().optional(),
  engine: z.string().optional(),
  device: z.string().optional(),
  threads: z.number().int().positive().optional(),
  /**
   * what the run computed in: fp32, or autocast mixed precision bf16 / fp16 (`--amp`); an evaluation at
   * another precision than the training adds it, e.g. `bf16,eval=fp32`
   */
  precision: z
    .string()
    .regex(/^(fp32|bf16|fp16)(,eval=(fp32|bf16|fp16))?$/, 'fp32, bf16 or fp16, optionally followed by ,eval=<precision>')
    .optional(),
  stem: z.enum(['imagenet', 'small']).optional(),
  in_chans: z.number().int().positive().optional(),
  epochs: z.number().int().nonnegative().optional(),
  /** the recipe and whatever flags changed it, e.g. `digits[epochs=1,limit_train=64]` */
  recipe: z.string().optional(),
  seed: z.number().int().optional(),
  /** the model spec as JSON */
  arch: z.string().optional(),
  /** images evaluated; empty except in the files of subset runs (subset.ts) */
  n_images: z.number().int().positive().optional(),
});
export type ResultRow = z.input<typeof ResultRowSchema>;

const finite = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));
const text = (v: string | number | undefined) => (v === undefined ? '' : String(v));

/** One row formatted as timm writes it, then the extra columns ('' where unknown). */
export function formatResultRow(r: ResultRow): Record<string, string> {
  return {
    model: r.model,
    img_size: String(r.img_size),
    top1: r.top1.toFixed(3),
    top1_err: (100 - r.top1).toFixed(3),
    top5: r.top5.toFixed(3),
    top5_err: (100 - r.top5).toFixed(3),
    param_count: (r.params / 1e6).toFixed(2),
    crop_pct: r.crop_pct.toFixed(3),
    interpolation: r.interpolation,
    flops: text(r.flops),
    acts: text(r.acts),
    infer_samples_per_sec: finite(r.infer_samples_per_sec, 2),
    infer_batch_size: text(r.infer_batch_size),
    train_samples_per_sec: finite(r.train_samples_per_sec, 2),
    train_batch_size: text(r.train_batch_size),
    engine: text(r.engine),
    device: text(r.device),
    threads: text(r.threads),
    precision: text(r.precision),
    stem: text(r.stem),
    in_chans: text(r.in_chans),
    epochs: text(r.epochs),
    recipe: text(r.recipe),
    seed: text(r.seed),
    arch: text(r.arch),
    n_images: text(r.n_images),
  };
}

/** The identity of a formatted (or read) row; absent columns count as empty. */
export function resultIdentity(row: Record<string, string | undefined>): string {
  return RESULTS_IDENTITY.map((c) => row[c] || IDENTITY_DEFAULTS[c] || '').join('\u0000');
}

/**
 * Merge rows into results-<dataset>.csv: a row replaces the one with the same identity
 * (RESULTS_IDENTITY); sorted by top1 desc, top5 desc, model; written atomically. Columns an older file
 * has beyond ours are kept, after ours.
 */
export function mergeResults(path: string, rows: ResultRow[]): void {
  // concurrent train/eval runs into one folder: the read-modify-write is serialised so no row is lost
  withLock(`${path}.lock`, { purpose: 'merging results', waitMs: 60_000, staleAfterMs: 60_000 }, () => mergeLocked(path, rows));
}

function mergeLocked(path: string, rows: ResultRow[]): void {
  const existing: Array<Record<string, string>> = existsSync(path) ? readCsv(path) : [];
  const byKey = new Map<string, Record<string, string>>();
  for (const e of existing) byKey.set(resultIdentity(e), e);
  for (const r of rows) {
    const f = formatResultRow(ResultRowSchema.parse(r) as ResultRow);
    byKey.set(resultIdentity(f), f);
  }
  const all = [...byKey.values()].sort(
    (a, b) => Number(b.top1) - Number(a.top1) || Number(b.top5) - Number(a.top5) || (a.model! < b.model! ? -1 : a.model! > b.model! ? 1 : 0),
  );
  const ours: string[] = [...RESULTS_COLUMNS, ...RESULTS_EXTRA_COLUMNS];
  const extra = existing.length ? Object.keys(existing[0]!).filter((c) => !ours.includes(c)) : [];
  writeFileAtomic(path, toCsv([...ours, ...extra], all));
}

export type BenchMode = 'infer' | 'train';

/** timm's benchmark columns, then what timm keeps in the file name: the precision and the memory layout. */
export function benchmarkColumns(mode: BenchMode): string[] {
  return [
    'model', `${mode}_img_size`, `${mode}_samples_per_sec`, `${mode}_step_time`, `${mode}_batch_size`, 'param_count',
    `${mode}_gmacs`, `${mode}_macts`, 'precision', 'layout',
  ];
}

/** The text columns of a benchmark row (every other column is a number). */
export const BENCH_TEXT_COLUMNS = ['model', 'precision', 'layout'] as const;

export const BenchRowSchema = z.object({
  model: z.string(),
  mode: z.enum(['infer', 'train']),
  img_size: z.number().int().positive(),
  samples_per_sec: z.number().nonnegative(),
  /** milliseconds per batch */
  step_time_ms: z.number().nonnegative(),
  batch_size: z.number().int().positive(),
  params: z.number().int().nonnegative(),
  macs: z.number().nonnegative(),
  acts: z.number().nonnegative(),
  /** fp32, or autocast mixed precision (`--amp`) */
  precision: z.enum(['fp32', 'bf16', 'fp16']).default('fp32'),
  /** nchw, or nhwc with `--channels-last` */
  layout: z.enum(['nchw', 'nhwc']).default('nchw'),
});
export type BenchRow = z.input<typeof BenchRowSchema>;

/** benchmark-infer-*.csv / benchmark-train-*.csv row, timm formatting. */
export function formatBenchRow(r: BenchRow): Record<string, string> {
  const m = r.mode;
  return {
    model: r.model,
    [`${m}_img_size`]: String(r.img_size),
    [`${m}_samples_per_sec`]: r.samples_per_sec.toFixed(2),
    [`${m}_step_time`]: r.step_time_ms.toFixed(3),
    [`${m}_batch_size`]: String(r.batch_size),
    param_count: (r.params / 1e6).toFixed(2),
    [`${m}_gmacs`]: (r.macs / 1e9).toFixed(2),
    [`${m}_macts`]: (r.acts / 1e6).toFixed(2),
    precision: r.precision ?? 'fp32',
    layout: r.layout ?? 'nchw',
  };
}

/**
 * A benchmark CSV's name in the style of timm's results folder (`benchmark-infer-amp-nhwc-...`): the mode,
 * `amp-<dtype>` and `nhwc` when used, then the engine, the image size and an optional tag, e.g.
 * benchmark-train-amp-bf16-nhwc-torch-32px.csv; fp32 NCHW gives benchmark-train-torch-32px.csv.
 */
export function benchCsvName(
  mode: BenchMode,
  o: { engine: string; imgSize: number; precision?: 'fp32' | 'bf16' | 'fp16'; layout?: 'nchw' | 'nhwc'; tag?: string },
): string {
  const parts = ['benchmark', mode];
  if (o.precision && o.precision !== 'fp32') parts.push('amp', o.precision);
  if (o.layout === 'nhwc') parts.push('nhwc');
  parts.push(o.engine, `${o.imgSize}px`);
  if (o.tag) parts.push(o.tag);
  return `${parts.join('-')}.csv`;
}

/** Write (replace) a benchmark CSV with rows of one mode, atomically. */
export function writeBenchCsv(path: string, rows: BenchRow[]): void {
  if (rows.length === 0) return;
  const mode = rows[0]!.mode;
  writeFileAtomic(path, toCsv(benchmarkColumns(mode), rows.map((r) => formatBenchRow(BenchRowSchema.parse(r)))));
}
