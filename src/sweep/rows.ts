/**
 * The sweep CSV: one row per model, the sampled design (RegNet parameters and the stage lists every
 * model has), its complexity, what training gave, and bookkeeping (status, attempts, seed, config hash).
 * `regnet analyze` reads id, status, top1_err, depth, w0, wa, wm, group_size, params, flops, acts,
 * stage_widths, stage_depths and space. Files are always rewritten whole (temp + rename), sorted by id.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseCsv, toCsv } from '../results/csv.js';
import type { Sample } from '../space/sampler.js';
import type { TrainResult } from '../train/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';

export const SWEEP_COLUMNS = [
  'id', 'status', 'space', 'kind', 'depth', 'w0', 'wa', 'wm', 'group_size', 'bottle_ratio', 'se_ratio',
  'num_stages', 'stage_widths', 'stage_depths', 'stage_group_widths', 'stage_bottle_ratios',
  'params', 'flops', 'acts', 'top1', 'top5', 'top1_err', 'top5_err', 'final_loss', 'epochs', 'steps',
  'train_seconds', 'images_per_sec', 'engine', 'dataset', 'res', 'seed', 'train_seed', 'attempts', 'error',
  'sweep', 'config_hash',
] as const;

export const STATUSES = ['ok', 'diverged', 'failed'] as const;
export type RowStatus = (typeof STATUSES)[number];

/** ok and diverged are final; failed may be retried (--retries). */
export const isFinal = (s: RowStatus) => s !== 'failed';

const num = z.string().transform((s, ctx) => {
  if (s.trim() === '') return NaN;
  const v = Number(s);
  if (!Number.isFinite(v)) {
    ctx.addIssue({ code: 'custom', message: `expected a number, got '${s}'` });
    return z.NEVER;
  }
  return v;
});
const list = z.string().transform((s, ctx) => {
  if (s.trim() === '') return [] as number[];
  const v = s.split('-').map(Number);
  if (v.some((x) => !Number.isFinite(x))) {
    ctx.addIssue({ code: 'custom', message: `expected numbers joined with '-', got '${s}'` });
    return z.NEVER;
  }
  return v;
});
const int = z.string().regex(/^\d+$/, 'expected a non-negative integer').transform(Number);

/** A row as read from a file; every column must be present. */
export const SweepRowSchema = z.object({
  id: int,
  status: z.enum(STATUSES),
  space: z.string(),
  kind: z.enum(['regnet', 'anynet']),
  depth: num,
  w0: num,
  wa: num,
  wm: num,
  group_size: num,
  bottle_ratio: num,
  se_ratio: num,
  num_stages: int,
  stage_widths: list,
  stage_depths: list,
  stage_group_widths: list,
  stage_bottle_ratios: list,
  params: num,
  flops: num,
  acts: num,
  top1: num,
  top5: num,
  top1_err: num,
  top5_err: num,
  final_loss: num,
  epochs: num,
  steps: num,
  train_seconds: num,
  images_per_sec: num,
  engine: z.string(),
  dataset: z.string(),
  res: int,
  seed: int,
  train_seed: int,
  attempts: int,
  error: z.string(),
  sweep: z.string(),
  config_hash: z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex digits'),
});
export type SweepRow = z.infer<typeof SweepRowSchema>;

export interface RowContext {
  space: string;
  sweep: string;
  hash: string;
  seed: number;
  dataset: string;
  res: number;
}

const round = (v: number, d: number) => (Number.isFinite(v) ? Number(v.toFixed(d)) : NaN);

/** A row for a model before (or without) a training result. */
export function baseRow(s: Sample, ctx: RowContext, trainSeed: number, attempts: number): SweepRow {
  return {
    id: s.id,
    status: 'failed',
    space: ctx.space,
    kind: s.kind,
    depth: s.depth,
    w0: s.w0,
    wa: s.wa,
    wm: s.wm,
    group_size: s.group_size,
    bottle_ratio: s.bottle_ratio,
    se_ratio: s.se_ratio,
    num_stages: s.num_stages,
    stage_widths: s.stage_widths,
    stage_depths: s.stage_depths,
    stage_group_widths: s.stage_group_widths,
    stage_bottle_ratios: s.stage_bottle_ratios,
    params: s.params,
    flops: s.flops,
    acts: s.acts,
    top1: NaN,
    top5: NaN,
    top1_err: NaN,
    top5_err: NaN,
    final_loss: NaN,
    epochs: NaN,
    steps: NaN,
    train_seconds: NaN,
    images_per_sec: NaN,
    engine: '',
    dataset: ctx.dataset,
    res: ctx.res,
    seed: ctx.seed,
    train_seed: trainSeed,
    attempts,
    error: '',
    sweep: ctx.sweep,
    config_hash: ctx.hash,
  };
}

export function resultRow(base: SweepRow, r: TrainResult): SweepRow {
  const top1 = round(r.top1, 3);
  const top5 = round(r.top5, 3);
  return {
    ...base,
    status: r.status === 'ok' ? 'ok' : 'diverged',
    top1,
    top5,
    top1_err: round(100 - top1, 3),
    top5_err: round(100 - top5, 3),
    final_loss: Number.isFinite(r.finalLoss) ? Number(r.finalLoss.toPrecision(6)) : NaN,
    epochs: r.epochs,
    steps: r.steps,
    train_seconds: round(r.trainSeconds, 3),
    images_per_sec: round(r.imagesPerSec, 2),
    engine: r.engine,
    error: r.status === 'ok' ? '' : 'loss diverged',
  };
}

export function failedRow(base: SweepRow, err: unknown, engine: string): SweepRow {
  return { ...base, status: 'failed', engine, error: shortError(err) };
}

/** One line, at most 200 characters: enough to see what broke without a stack trace in a CSV cell. */
export function shortError(err: unknown): string {
  const msg = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  const line = msg.split('\n')[0]!.trim() || 'unknown error';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

function cell(v: unknown): string {
  if (Array.isArray(v)) return v.join('-');
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return String(v ?? '');
}

export function formatRows(rows: SweepRow[]): string {
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  return toCsv(
    [...SWEEP_COLUMNS],
    sorted.map((r) => Object.fromEntries(SWEEP_COLUMNS.map((c) => [c, cell(r[c])]))),
  );
}

export function writeRows(path: string, rows: SweepRow[]): void {
  writeFileAtomic(path, formatRows(rows));
}

/** Read a sweep CSV written by this module; errors name the file, row and column. */
export function readRows(path: string): SweepRow[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const recs = parseCsv(text, path);
  return recs.map((rec, i) => {
    const r = SweepRowSchema.safeParse(rec);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new UsageError(`${path} row ${i + 1}: column '${issue.path.join('.')}': ${issue.message}`);
    }
    return r.data;
  });
}

const RANK: Record<RowStatus, number> = { ok: 2, diverged: 2, failed: 1 };

/**
 * Combine rows by id: a final row (ok/diverged) wins over a failed one; among failed rows the one
 * with more attempts wins; otherwise the first seen is kept. Sorted by id.
 */
export function dedupeRows(rows: SweepRow[]): { rows: SweepRow[]; duplicates: number } {
  const byId = new Map<number, SweepRow>();
  let duplicates = 0;
  for (const r of rows) {
    const have = byId.get(r.id);
    if (!have) {
      byId.set(r.id, r);
      continue;
    }
    duplicates++;
    if (RANK[r.status] > RANK[have.status] || (r.status === 'failed' && have.status === 'failed' && r.attempts > have.attempts)) {
      byId.set(r.id, r);
    }
  }
  return { rows: [...byId.values()].sort((a, b) => a.id - b.id), duplicates };
}
