/**
 * Reading sweep CSVs for analysis. A sweep file has one row per sampled model; the columns used are
 * id, status, top1_err (or top1, err = 100 - top1), and optionally depth, w0, wa, wm, group_size, params,
 * flops, acts, stage_widths, stage_depths (lists joined with '-') and space (the design-space label).
 * Only rows with status 'ok' and a finite error count.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { blockWidths } from '../space/regnet.js';
import { UsageError } from '../util/errors.js';

export const PARAM_COLUMNS = ['depth', 'w0', 'wa', 'wm', 'group_size'] as const;
export const COMPLEXITY_COLUMNS = ['flops', 'params', 'acts'] as const;
export type NumericField = (typeof PARAM_COLUMNS)[number] | (typeof COMPLEXITY_COLUMNS)[number];

export interface SweepRow {
  id: string;
  /** top-1 error in % */
  err: number;
  values: Record<NumericField, number>;
  stageWidths: number[];
  stageDepths: number[];
  /** per-block widths (stage widths repeated by depth; from w0/wa/wm/depth when the lists are absent) */
  blockWidths: number[];
  raw: Record<string, string>;
}

export interface Sweep {
  name: string;
  file: string;
  rows: SweepRow[];
  /** rows not counted (status not ok, or no error) */
  skipped: number;
}

function num(text: string | undefined): number {
  if (text === undefined) return NaN;
  const t = text.trim();
  if (t === '') return NaN;
  const v = Number(t);
  return Number.isFinite(v) ? v : NaN;
}

/** '48-104-208-440', '[48, 104]', '48;104' or '48 104' -> numbers; [] when empty or malformed. */
export function parseList(text: string | undefined): number[] {
  if (!text) return [];
  const t = text.trim().replace(/^\[|\]$/g, '');
  if (t === '') return [];
  const parts = t.split(/[-;,|\s]+/).filter((p) => p !== '');
  const v = parts.map(Number);
  return v.every((x) => Number.isFinite(x)) ? v : [];
}

/** Read one sweep CSV; rows are grouped by their `space` column, else labelled with the file name. */
export function readSweepCsv(file: string): Sweep[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read sweep file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, bom: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as Record<string, string>[];
  } catch (e) {
    throw new UsageError(`cannot parse sweep file '${file}' as CSV: ${(e as Error).message.split('\n')[0]}`);
  }
  const header = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const cols = new Set(header.split(',').map((c) => c.trim().replace(/^"|"$/g, '')));
  const missing: string[] = [];
  if (!cols.has('id')) missing.push('id');
  if (!cols.has('status')) missing.push('status');
  const errCol = cols.has('top1_err') ? 'top1_err' : cols.has('top1') ? 'top1' : null;
  if (!errCol) missing.push('top1_err (or top1)');
  if (missing.length) {
    throw new UsageError(`sweep file '${file}' lacks column(s) ${missing.join(', ')}; found: ${[...cols].filter((c) => c).join(', ') || '(none)'}`);
  }
  const label = basename(file, extname(file));
  const groups = new Map<string, Sweep>();
  // a model counted twice would skew every statistic: ids are unique within a space
  const rowOfId = new Map<string, number>();
  for (const [index, r] of records.entries()) {
    const name = (cols.has('space') && r.space?.trim()) || label;
    let g = groups.get(name);
    if (!g) {
      g = { name, file, rows: [], skipped: 0 };
      groups.set(name, g);
    }
    const key = `${name}\u0000${r.id ?? ''}`;
    const first = rowOfId.get(key);
    if (first !== undefined) {
      throw new UsageError(`${file}: id '${r.id ?? ''}' is on rows ${first + 1} and ${index + 1}${name === label ? '' : ` (space ${name})`}; merge shard files with regnet merge, which dedupes`);
    }
    rowOfId.set(key, index);
    const e = errCol === 'top1_err' ? num(r.top1_err) : 100 - num(r.top1);
    if ((r.status ?? '').trim().toLowerCase() !== 'ok' || !Number.isFinite(e)) {
      g.skipped++;
      continue;
    }
    g.rows.push(toRow(r, e));
  }
  if (groups.size === 0) groups.set(label, { name: label, file, rows: [], skipped: 0 });
  return [...groups.values()];
}

function toRow(r: Record<string, string>, err: number): SweepRow {
  const stageWidths = parseList(r.stage_widths);
  const stageDepths = parseList(r.stage_depths);
  const values = {} as Record<NumericField, number>;
  for (const c of [...PARAM_COLUMNS, ...COMPLEXITY_COLUMNS]) values[c] = num(r[c]);
  if (!Number.isFinite(values.depth) && stageDepths.length) values.depth = stageDepths.reduce((a, b) => a + b, 0);
  // AnyNet rows may carry one group width per stage: use the largest, as pycls does
  if (!Number.isFinite(values.group_size)) {
    const gs = parseList(r.group_size);
    if (gs.length) values.group_size = Math.max(...gs);
  }
  let bw: number[] = [];
  if (stageWidths.length && stageWidths.length === stageDepths.length) {
    for (let i = 0; i < stageWidths.length; i++) for (let k = 0; k < stageDepths[i]!; k++) bw.push(stageWidths[i]!);
  } else if ([values.w0, values.wa, values.wm, values.depth].every(Number.isFinite) && values.wm > 1 && values.w0 > 0 && values.depth >= 1) {
    bw = blockWidths(values.w0, values.wa, values.wm, values.depth).widths;
  }
  return { id: r.id ?? '', err, values, stageWidths, stageDepths, blockWidths: bw, raw: r };
}

/** Read several files; labels repeated across files get the file name appended. */
export function readSweeps(files: string[]): Sweep[] {
  const all = files.flatMap((f) => readSweepCsv(f));
  const count = new Map<string, number>();
  for (const s of all) count.set(s.name, (count.get(s.name) ?? 0) + 1);
  for (const s of all) if (count.get(s.name)! > 1) s.name = `${s.name} [${basename(s.file)}]`;
  return all;
}
