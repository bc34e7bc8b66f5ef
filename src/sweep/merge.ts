/** Combining shard CSVs of one sweep into one file: same config hash required, dedupe by id, sort by id. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { dedupeRows, readRows, writeRows, type SweepRow } from './rows.js';

export interface MergeResult {
  out: string;
  files: string[];
  rows: SweepRow[];
  duplicates: number;
  hash: string;
  /** ids 0..n-1 without a row, when a sweep.json sidecar tells n */
  missing?: number[];
}

const SWEEP_FILE = /^sweep(\.shard-\d+-of-\d+)?\.csv$/;

/** Folders expand to their sweep.csv and sweep.shard-I-of-N.csv files. */
export function expandInputs(inputs: string[]): string[] {
  const files: string[] = [];
  for (const p of inputs) {
    if (!existsSync(p)) throw new UsageError(`merge: no such file or folder '${p}'`);
    if (statSync(p).isDirectory()) {
      const found = readdirSync(p)
        .filter((f) => SWEEP_FILE.test(f))
        .sort();
      if (found.length === 0) throw new UsageError(`merge: folder '${p}' has no sweep.csv or sweep.shard-I-of-N.csv files`);
      files.push(...found.map((f) => join(p, f)));
    } else {
      files.push(p);
    }
  }
  return [...new Set(files.map((f) => resolve(f)))];
}

export interface MergeOptions {
  /** refuse (throw `incomplete(missing)`, write nothing) when sweep.json tells of models without a row */
  requireComplete?: boolean;
  incomplete?: (missing: number[]) => Error;
}

export function mergeSweeps(inputs: string[], out: string, opts: MergeOptions = {}): MergeResult {
  const files = expandInputs(inputs);
  const all: SweepRow[] = [];
  const hashes = new Map<string, string>();
  for (const f of files) {
    const rows = readRows(f);
    for (const r of rows) if (!hashes.has(r.config_hash)) hashes.set(r.config_hash, f);
    all.push(...rows);
  }
  if (hashes.size > 1) {
    const list = [...hashes].map(([h, f]) => `${h} (${f})`).join(', ');
    throw new UsageError(`merge: the files come from different sweep configs: ${list}`);
  }
  if (all.length === 0) throw new UsageError(`merge: no rows in ${files.join(', ')}`);
  const seeds = new Set(all.map((r) => r.seed));
  if (seeds.size > 1) throw new UsageError(`merge: rows have different seeds (${[...seeds].join(', ')})`);
  const hash = [...hashes.keys()][0]!;
  const { rows, duplicates } = dedupeRows(all);
  const missing = missingIds(files, hash, rows);
  if (opts.requireComplete && missing?.length) {
    throw opts.incomplete?.(missing) ?? new UsageError(`merge: ${missing.length} model(s) have no row yet`);
  }
  writeRows(out, rows);
  return { out, files, rows, duplicates, hash, missing };
}

function missingIds(files: string[], hash: string, rows: SweepRow[]): number[] | undefined {
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const side = join(dir, 'sweep.json');
    if (!existsSync(side)) continue;
    try {
      const j = JSON.parse(readFileSync(side, 'utf8')) as { config_hash?: string; n?: number };
      if (j.config_hash !== hash || typeof j.n !== 'number') continue;
      const have = new Set(rows.map((r) => r.id));
      return Array.from({ length: j.n }, (_, i) => i).filter((i) => !have.has(i));
    } catch {
      continue;
    }
  }
  return undefined;
}
