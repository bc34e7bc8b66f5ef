/**
 * Result files in the CSV format of pytorch-image-models' `results/` folder (results-imagenet.csv and
 * friends: model, img_size, top1, top1_err, top5, top5_err, param_count, crop_pct, interpolation; and the
 * benchmark CSVs). zod schemas define the rows; headers and number formats are exact so the files diff
 * cleanly against timm's own.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic.js';
import { withLock } from '../util/lock.js';
import { readCsv, toCsv } from './csv.js';

export const RESULTS_COLUMNS = ['model', 'img_size', 'top1', 'top1_err', 'top5', 'top5_err', 'param_count', 'crop_pct', 'interpolation'] as const;

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
  /** images evaluated; written (as an extra last column) in the files of subset runs (subset.ts) */
  n_images: z.number().int().positive().optional(),
});
export type ResultRow = z.infer<typeof ResultRowSchema>;

/** One row formatted as timm writes it. */
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
    ...(r.n_images !== undefined ? { n_images: String(r.n_images) } : {}),
  };
}

/**
 * Merge rows into results-<dataset>.csv: a row replaces the one with the same (model, img_size);
 * sorted by top1 desc, top5 desc, model; written atomically.
 */
export function mergeResults(path: string, rows: ResultRow[]): void {
  // concurrent train/eval runs into one folder: the read-modify-write is serialised so no row is lost
  withLock(`${path}.lock`, { purpose: 'merging results', waitMs: 60_000, staleAfterMs: 60_000 }, () => mergeLocked(path, rows));
}

function mergeLocked(path: string, rows: ResultRow[]): void {
  const existing: Array<Record<string, string>> = existsSync(path) ? readCsv(path) : [];
  const key = (m: string, s: string) => `${m}\u0000${s}`;
  const byKey = new Map<string, Record<string, string>>();
  for (const e of existing) byKey.set(key(e.model ?? '', e.img_size ?? ''), e);
  for (const r of rows) {
    const f = formatResultRow(ResultRowSchema.parse(r));
    byKey.set(key(f.model!, f.img_size!), f);
  }
  const all = [...byKey.values()].sort(
    (a, b) => Number(b.top1) - Number(a.top1) || Number(b.top5) - Number(a.top5) || (a.model! < b.model! ? -1 : a.model! > b.model! ? 1 : 0),
  );
  const columns: string[] = [...RESULTS_COLUMNS];
  if (all.some((r) => r.n_images !== undefined && r.n_images !== '')) columns.push('n_images');
  writeFileAtomic(path, toCsv(columns, all));
}

export type BenchMode = 'infer' | 'train';

export function benchmarkColumns(mode: BenchMode): string[] {
  return ['model', `${mode}_img_size`, `${mode}_samples_per_sec`, `${mode}_step_time`, `${mode}_batch_size`, 'param_count', `${mode}_gmacs`, `${mode}_macts`];
}

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
});
export type BenchRow = z.infer<typeof BenchRowSchema>;

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
  };
}

/** Write (replace) a benchmark CSV with rows of one mode, atomically. */
export function writeBenchCsv(path: string, rows: BenchRow[]): void {
  if (rows.length === 0) return;
  const mode = rows[0]!.mode;
  writeFileAtomic(path, toCsv(benchmarkColumns(mode), rows.map((r) => formatBenchRow(BenchRowSchema.parse(r)))));
}
