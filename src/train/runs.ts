/**
 * <results-dir>/runs.csv: one row per finished (or diverged) training run, richer than timm's
 * results-<dataset>.csv. Appended atomically: read, add, rewrite through a temp file, under a lock
 * file so parallel runs (sweeps) don't drop each other's rows; a dead holder's lock is taken over.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { readCsv, toCsv } from '../results/csv.js';
import { writeFileAtomic } from '../util/atomic.js';
import { withLock } from '../util/lock.js';

export const RUNS_COLUMNS = [
  'model',
  'spec',
  'dataset',
  'engine',
  'recipe',
  'epochs',
  'steps',
  'batch_size',
  'lr',
  'img_size',
  'in_chans',
  'stem',
  'seed',
  'train_seconds',
  'images_per_sec',
  'params',
  'flops',
  'acts',
  'final_loss',
  'top1',
  'top5',
  'status',
  'finished_at',
] as const;

/** NaN and +-Inf allowed (diverged runs) */
const finiteOrNaN = z.custom<number>((v) => typeof v === 'number', 'expected a number');

export const RunRowSchema = z.object({
  model: z.string().min(1),
  /** the model spec as JSON (zoo models too, so a row can be rebuilt without the zoo) */
  spec: z.string().min(2),
  dataset: z.string().min(1),
  engine: z.string().min(1),
  recipe: z.string(),
  epochs: z.number().int().min(0),
  steps: z.number().int().min(0),
  batch_size: z.number().int().min(1),
  lr: z.number(),
  img_size: z.number().int().min(1),
  in_chans: z.number().int().min(1),
  stem: z.enum(['imagenet', 'small']),
  seed: z.number(),
  train_seconds: z.number().min(0),
  images_per_sec: finiteOrNaN,
  params: z.number().int().min(0),
  flops: z.number().int().min(0),
  acts: z.number().int().min(0),
  final_loss: finiteOrNaN,
  /** percent; NaN when the run diverged before evaluation */
  top1: finiteOrNaN,
  top5: finiteOrNaN,
  status: z.enum(['ok', 'diverged', 'interrupted']),
  finished_at: z.string(),
});
export type RunRow = z.infer<typeof RunRowSchema>;

function num(v: number, digits?: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return digits === undefined ? String(v) : v.toFixed(digits);
}

export function formatRunRow(r: RunRow): Record<string, string> {
  return {
    model: r.model,
    spec: r.spec,
    dataset: r.dataset,
    engine: r.engine,
    recipe: r.recipe,
    epochs: String(r.epochs),
    steps: String(r.steps),
    batch_size: String(r.batch_size),
    lr: num(r.lr),
    img_size: String(r.img_size),
    in_chans: String(r.in_chans),
    stem: r.stem,
    seed: String(r.seed),
    train_seconds: num(r.train_seconds, 1),
    images_per_sec: num(r.images_per_sec, 1),
    params: String(r.params),
    flops: String(r.flops),
    acts: String(r.acts),
    final_loss: num(r.final_loss, 4),
    top1: num(r.top1, 3),
    top5: num(r.top5, 3),
    status: r.status,
    finished_at: r.finished_at,
  };
}

/** Add one row to runs.csv (columns of older files are kept; ours come first). */
export function appendRun(path: string, row: RunRow): void {
  const f = formatRunRow(RunRowSchema.parse(row));
  withLock(`${path}.lock`, { purpose: 'appending to runs.csv', waitMs: 60_000, staleAfterMs: 60_000 }, () => {
    const rows = existsSync(path) ? readCsv(path) : [];
    const extra = rows.length ? Object.keys(rows[0]!).filter((c) => !(RUNS_COLUMNS as readonly string[]).includes(c)) : [];
    rows.push(f);
    writeFileAtomic(path, toCsv([...RUNS_COLUMNS, ...extra], rows));
  });
}
