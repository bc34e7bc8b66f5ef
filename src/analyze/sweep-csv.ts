/**
 * Sweep CSVs for analysis, read with the one sweep-file reader (src/results/sweep-rows.ts) in its
 * partial mode: the columns used are id, status, top1_err (or top1, err = 100 - top1), and optionally
 * depth, w0, wa, wm, group_size, params, flops, acts, stage_widths, stage_depths and space (the
 * design-space label). Only rows with status 'ok' and a finite error count.
 */
import { basename, extname } from 'node:path';
import { readSweepFile, type PartialSweepRow, type SweepColumn } from '../results/sweep-rows.js';
import { blockWidths, REGNET_PARAM_RULES as R } from '../space/regnet.js';
import { UsageError } from '../util/errors.js';

export const PARAM_COLUMNS = ['depth', 'w0', 'wa', 'wm', 'group_size'] as const satisfies readonly SweepColumn[];
export const COMPLEXITY_COLUMNS = ['flops', 'params', 'acts'] as const satisfies readonly SweepColumn[];
export type NumericField = (typeof PARAM_COLUMNS)[number] | (typeof COMPLEXITY_COLUMNS)[number];

/** A sweep row as analysis sees it: its error, the numbers it plots and its per-block widths. */
export interface AnalysisRow {
  id: string;
  /** top-1 error in % */
  err: number;
  values: Record<NumericField, number>;
  stageWidths: number[];
  stageDepths: number[];
  /** per-block widths (stage widths repeated by depth; from w0/wa/wm/depth when the lists are absent) */
  blockWidths: number[];
}

export interface Sweep {
  name: string;
  file: string;
  rows: AnalysisRow[];
  /** rows not counted (status not ok, or no error) */
  skipped: number;
}

/** Read one sweep CSV; rows are grouped by their `space` column, else labelled with the file name. */
export function readSweepCsv(file: string): Sweep[] {
  const { columns, rows } = readSweepFile(file, { partial: true });
  const fromErr = columns.includes('top1_err');
  const label = basename(file, extname(file));
  const groups = new Map<string, Sweep>();
  // a model counted twice would skew every statistic: ids are unique within a space
  const rowOfId = new Map<string, number>();
  for (const [index, r] of rows.entries()) {
    const name = r.space?.trim() || label;
    let g = groups.get(name);
    if (!g) {
      g = { name, file, rows: [], skipped: 0 };
      groups.set(name, g);
    }
    const key = `${name}\u0000${r.id ?? ''}`;
    const first = rowOfId.get(key);
    if (first !== undefined) {
      throw new UsageError(
        `${file}: id '${r.id ?? ''}' is on rows ${first + 1} and ${index + 1}${name === label ? '' : ` (space ${name})`}; merge shard files with regnet merge, which dedupes`,
      );
    }
    rowOfId.set(key, index);
    const e = fromErr ? (r.top1_err ?? NaN) : 100 - (r.top1 ?? NaN);
    if ((r.status ?? '').trim().toLowerCase() !== 'ok' || !Number.isFinite(e)) {
      g.skipped++;
      continue;
    }
    g.rows.push(toRow(r, e));
  }
  if (groups.size === 0) groups.set(label, { name: label, file, rows: [], skipped: 0 });
  return [...groups.values()];
}

function toRow(r: PartialSweepRow, err: number): AnalysisRow {
  const stageWidths = r.stage_widths ?? [];
  const stageDepths = r.stage_depths ?? [];
  const values = {} as Record<NumericField, number>;
  for (const c of [...PARAM_COLUMNS, ...COMPLEXITY_COLUMNS]) values[c] = r[c] ?? NaN;
  if (!Number.isFinite(values.depth) && stageDepths.length) values.depth = stageDepths.reduce((a, b) => a + b, 0);
  let bw: number[] = [];
  if (stageWidths.length && stageWidths.length === stageDepths.length) {
    for (let i = 0; i < stageWidths.length; i++) for (let k = 0; k < stageDepths[i]!; k++) bw.push(stageWidths[i]!);
  } else if (R.depth.ok(values.depth) && R.w0.ok(values.w0) && R.wa.ok(values.wa) && R.wm.ok(values.wm)) {
    bw = blockWidths(values.w0, values.wa, values.wm, values.depth).widths;
  }
  return { id: r.id ?? '', err, values, stageWidths, stageDepths, blockWidths: bw };
}

/** Read several files; labels repeated across files get the file name appended. */
export function readSweeps(files: string[]): Sweep[] {
  const all = files.flatMap((f) => readSweepCsv(f));
  const count = new Map<string, number>();
  for (const s of all) count.set(s.name, (count.get(s.name) ?? 0) + 1);
  for (const s of all) if (count.get(s.name)! > 1) s.name = `${s.name} [${basename(s.file)}]`;
  return all;
}
