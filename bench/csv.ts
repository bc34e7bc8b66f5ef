/**
 * The bench scripts' CSV output: each script writes its README table as a results/benchmark-*.csv file
 * (timm's naming: benchmark-infer-NAME.csv, benchmark-train-NAME.csv), atomically, so a figure in the
 * README always has a committed row behind it (test/readme-results.test.ts compares them).
 *
 * Model benchmarks use timm's benchmark columns (`model`, `{mode}_img_size`, `{mode}_samples_per_sec`,
 * `{mode}_step_time` (ms per batch), `{mode}_batch_size`, `param_count` (millions), `{mode}_gmacs`,
 * `{mode}_macts`), then `engine`, `device`, `threads`, the compared implementation (`peer`,
 * `peer_model`, `peer_samples_per_sec`, `ratio` = ours / peer in throughput), how it was measured
 * (`rounds`, `iters`, the 1-minute load average from `uptime` at the start and end) and when.
 * Scripts may add columns after these (additively: readers look columns up by name).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toCsv } from '../src/results/csv.js';
import { benchmarkColumns, formatBenchRow, type BenchMode } from '../src/results/timm.js';
import { writeFileAtomic } from '../src/util/atomic.js';

export const RESULTS_DIR = join(fileURLToPath(new URL('..', import.meta.url)), 'results');

/** Columns after timm's, in this order. */
export const PEER_COLUMNS = [
  'engine',
  'device',
  'threads',
  'peer',
  'peer_model',
  'peer_samples_per_sec',
  'ratio',
  'rounds',
  'iters',
  'load_start',
  'load_end',
  'measured',
] as const;

/** The 1-minute load average (`uptime`'s first figure), two decimals. */
export const load1 = (): string => loadavg()[0]!.toFixed(2);

/** UTC date and time of a measurement, to the minute. */
export const stamp = (d = new Date()): string => d.toISOString().slice(0, 16) + 'Z';

export interface PeerRow {
  mode: BenchMode;
  model: string;
  imgSize: number;
  batch: number;
  /** median step time of ours, ms per batch */
  stepTimeMs: number;
  params: number;
  macs: number;
  acts: number;
  engine: string;
  device: string;
  threads: number;
  peer?: string;
  peerModel?: string;
  /** median step time of the peer, ms per batch */
  peerStepTimeMs?: number;
  rounds: number;
  iters: number;
  loadStart: string;
  loadEnd: string;
  /** further columns, written after the common ones */
  extra?: Record<string, string>;
}

export const ips = (batch: number, ms: number): number => (batch / ms) * 1000;

/** One CSV row: timm's benchmark fields, then PEER_COLUMNS, then the extras. */
export function peerRow(r: PeerRow): Record<string, string> {
  const ours = ips(r.batch, r.stepTimeMs);
  const peer = r.peerStepTimeMs === undefined ? undefined : ips(r.batch, r.peerStepTimeMs);
  return {
    ...formatBenchRow({
      model: r.model,
      mode: r.mode,
      img_size: r.imgSize,
      samples_per_sec: ours,
      step_time_ms: r.stepTimeMs,
      batch_size: r.batch,
      params: r.params,
      macs: r.macs,
      acts: r.acts,
    }),
    engine: r.engine,
    device: r.device,
    threads: String(r.threads),
    peer: r.peer ?? '',
    peer_model: r.peerModel ?? '',
    peer_samples_per_sec: peer === undefined ? '' : peer.toFixed(2),
    ratio: peer === undefined ? '' : (ours / peer).toFixed(3),
    rounds: String(r.rounds),
    iters: String(r.iters),
    load_start: r.loadStart,
    load_end: r.loadEnd,
    measured: stamp(),
    ...r.extra,
  };
}

/** The header of a model benchmark CSV of one mode, with extra columns at the end. */
export function peerColumns(mode: BenchMode, extra: string[] = []): string[] {
  return [...benchmarkColumns(mode), ...PEER_COLUMNS, ...extra];
}

/** Write (replace) a results CSV atomically: the old file stays whole until the new one is complete. */
export function writeResultsCsv(path: string, columns: string[], rows: Array<Record<string, string>>): void {
  if (rows.length === 0) return;
  writeFileAtomic(path, toCsv(columns, rows));
  console.log(`wrote ${path}`);
}
