/**
 * Rows of the sweep CSV for the models of a sweep: before training, with a result, or failed; and how
 * rows of several files combine. The file format (columns, SweepRow, writer, reader) is
 * src/results/sweep-rows.ts, shared with `regnet analyze`.
 */
import { existsSync } from 'node:fs';
import { HYPER_COLUMNS, readSweepFile, type RowStatus, type SweepRow } from '../results/sweep-rows.js';
import type { TrainResult } from '../train/types.js';
import type { HyperValues } from './hyper.js';
import type { SweepModel } from './models.js';

// the sweep runner's and merger's names for the shared format
export { formatSweepRows as formatRows, isFinal, writeSweepRows as writeRows, type SweepRow } from '../results/sweep-rows.js';

export interface RowContext {
  sweep: string;
  hash: string;
  seed: number;
  dataset: string;
  res: number;
  /** the device and thread count the models run with (engine info replaces them when a model ran) */
  device: string;
  threads: number;
}

const round = (v: number, d: number) => (Number.isFinite(v) ? Number(v.toFixed(d)) : NaN);

/** Which training of a model a row is: its repeat (0..repeats-1) and the recipe values sampled for it. */
export interface RunIdentity {
  repeat: number;
  hyper: HyperValues;
}

/** A row for a model before (or without) a training result. */
export function baseRow(
  m: SweepModel,
  ctx: RowContext,
  trainSeed: number,
  attempts: number,
  run: RunIdentity = { repeat: 0, hyper: {} },
): SweepRow {
  const s = m.design;
  return {
    id: m.id,
    model: m.name,
    status: 'failed',
    space: m.source,
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
    device: ctx.device,
    threads: ctx.threads,
    dataset: ctx.dataset,
    res: ctx.res,
    seed: ctx.seed,
    train_seed: trainSeed,
    attempts,
    error: '',
    sweep: ctx.sweep,
    config_hash: ctx.hash,
    repeat: run.repeat,
    ...Object.fromEntries(HYPER_COLUMNS.map((c) => [c, run.hyper[c] ?? NaN])),
  } as SweepRow;
}

export function resultRow(base: SweepRow, r: TrainResult): SweepRow {
  const top1 = round(r.top1, 3);
  const top5 = round(r.top5, 3);
  // models without a sampled design learn their complexity and input size from the run
  const fill = (v: number, measured: number) => (Number.isFinite(v) ? v : measured);
  return {
    ...base,
    params: fill(base.params, r.params),
    flops: fill(base.flops, r.flops),
    acts: fill(base.acts, r.acts),
    res: base.res > 0 ? base.res : r.imgSize,
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
    device: r.device ?? base.device,
    threads: r.threads ?? base.threads,
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

/** The rows of a sweep file; a file not written yet has none. */
export function readRows(path: string): SweepRow[] {
  return existsSync(path) ? readSweepFile(path).rows : [];
}

const RANK: Record<RowStatus, number> = { ok: 2, diverged: 2, failed: 1 };

/**
 * What a training is: the model, its repeat (from 1 on) and the recipe values sampled for it. A sweep
 * without repeats or sampled fields keys its rows by model name alone, as before both existed.
 */
export function runKey(model: string, repeat: number, hyper: HyperValues): string {
  const sampled = HYPER_COLUMNS.filter((c) => Number.isFinite(hyper[c]))
    .map((c) => `${c}=${hyper[c]}`)
    .join(',');
  return `${model}${repeat > 0 ? `#r${repeat}` : ''}${sampled ? `|${sampled}` : ''}`;
}

/** What a row is about (runKey): its model name, or its id in files written before rows named their model. */
export const rowKey = (r: SweepRow): string => runKey(r.model || `#${r.id}`, r.repeat, r);

/**
 * Combine rows by training (rowKey): a final row (ok/diverged) wins over a failed one; among failed rows
 * the one with more attempts wins; otherwise the first seen is kept. Sorted by id.
 */
export function dedupeRows(rows: SweepRow[]): { rows: SweepRow[]; duplicates: number } {
  const byKey = new Map<string, SweepRow>();
  let duplicates = 0;
  for (const r of rows) {
    const have = byKey.get(rowKey(r));
    if (!have) {
      byKey.set(rowKey(r), r);
      continue;
    }
    duplicates++;
    if (RANK[r.status] > RANK[have.status] || (r.status === 'failed' && have.status === 'failed' && r.attempts > have.attempts)) {
      byKey.set(rowKey(r), r);
    }
  }
  return { rows: [...byKey.values()].sort((a, b) => a.id - b.id || a.repeat - b.repeat), duplicates };
}
