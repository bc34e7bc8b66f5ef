/**
 * Sweep CSVs for analysis, read with the one sweep-file reader (src/results/sweep-rows.ts) in its
 * partial mode: the columns used are id, status, top1_err (or top1, err = 100 - top1), and optionally
 * model, repeat, depth, w0, wa, wm, group_size, params, flops, acts, the sampled recipe fields (lr,
 * weight_decay, ...), stage_widths, stage_depths and space (the design-space label; rows labelled
 * 'baselines' are the sweep's zoo baselines, analysed apart). Only rows with status 'ok' and a finite
 * error count. A model trained several times (`repeats`: rows with the same id and repeat 0..K-1) is
 * one analysis row whose error is the mean over its ok repeats, with their standard deviation.
 */
import { basename, extname } from 'node:path';
import { HYPER_COLUMNS, readSweepFile, type PartialSweepRow, type SweepColumn } from '../results/sweep-rows.js';
import { blockWidths, REGNET_PARAM_RULES as R } from '../space/regnet.js';
import { UsageError } from '../util/errors.js';

export const PARAM_COLUMNS = ['depth', 'w0', 'wa', 'wm', 'group_size'] as const satisfies readonly SweepColumn[];
export const COMPLEXITY_COLUMNS = ['flops', 'params', 'acts'] as const satisfies readonly SweepColumn[];
export { HYPER_COLUMNS };
export type NumericField = (typeof PARAM_COLUMNS)[number] | (typeof COMPLEXITY_COLUMNS)[number] | (typeof HYPER_COLUMNS)[number];

/** The label of a sweep's zoo baselines in the `space` column (src/sweep/models.ts). */
export const BASELINE_LABEL = 'baselines';

/** A model as analysis sees it: its error, the numbers it plots and its per-block widths. */
export interface AnalysisRow {
  id: string;
  /** the model's name (the id where the file has no model column) */
  model: string;
  /** top-1 error in %: the mean over the model's ok repeats */
  err: number;
  /** sample standard deviation (n - 1) of the error over the ok repeats; NaN with one */
  errStd: number;
  /** ok repeats averaged into err */
  repeats: number;
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
  /** the rows labelled 'baselines': zoo models marked over the sweeps' plots, not a design space */
  baseline: boolean;
}

/** Read one sweep CSV; rows are grouped by their `space` column, else labelled with the file name. */
export function readSweepCsv(file: string): Sweep[] {
  const { columns, rows } = readSweepFile(file, { partial: true });
  const fromErr = columns.includes('top1_err');
  const label = basename(file, extname(file));
  const groups = new Map<string, Sweep>();
  // the ok repeats of each model, by group and id, in the order models first appear
  const repeatsOf = new Map<string, { group: Sweep; first: PartialSweepRow; errors: number[] }>();
  // a training counted twice would skew every statistic: (id, repeat) is unique within a space
  const rowOfId = new Map<string, number>();
  for (const [index, r] of rows.entries()) {
    const name = r.space?.trim() || label;
    let g = groups.get(name);
    if (!g) {
      g = { name, file, rows: [], skipped: 0, baseline: name === BASELINE_LABEL };
      groups.set(name, g);
    }
    const repeat = Number.isFinite(r.repeat) ? r.repeat! : 0;
    const key = `${name}\u0000${r.id ?? ''}`;
    const first = rowOfId.get(`${key}\u0000${repeat}`);
    if (first !== undefined) {
      throw new UsageError(
        `${file}: id '${r.id ?? ''}'${repeat ? ` repeat ${repeat}` : ''} is on rows ${first + 1} and ${index + 1}${name === label ? '' : ` (space ${name})`}; merge shard files with regnet merge, which dedupes`,
      );
    }
    rowOfId.set(`${key}\u0000${repeat}`, index);
    const e = fromErr ? (r.top1_err ?? NaN) : 100 - (r.top1 ?? NaN);
    if ((r.status ?? '').trim().toLowerCase() !== 'ok' || !Number.isFinite(e)) {
      g.skipped++;
      continue;
    }
    const model = repeatsOf.get(key);
    if (model) model.errors.push(e);
    else repeatsOf.set(key, { group: g, first: r, errors: [e] });
  }
  for (const { group, first, errors } of repeatsOf.values()) group.rows.push(toRow(first, errors));
  if (groups.size === 0) groups.set(label, { name: label, file, rows: [], skipped: 0, baseline: false });
  return [...groups.values()];
}

/** Mean and sample standard deviation (n - 1; NaN for one value). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, v) => a + (v - mean) * (v - mean), 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : NaN };
}

function toRow(r: PartialSweepRow, errors: number[]): AnalysisRow {
  const { mean: err, std: errStd } = meanStd(errors);
  const stageWidths = r.stage_widths ?? [];
  const stageDepths = r.stage_depths ?? [];
  const values = {} as Record<NumericField, number>;
  for (const c of [...PARAM_COLUMNS, ...COMPLEXITY_COLUMNS, ...HYPER_COLUMNS]) values[c] = r[c] ?? NaN;
  if (!Number.isFinite(values.depth) && stageDepths.length) values.depth = stageDepths.reduce((a, b) => a + b, 0);
  let bw: number[] = [];
  if (stageWidths.length && stageWidths.length === stageDepths.length) {
    for (let i = 0; i < stageWidths.length; i++) for (let k = 0; k < stageDepths[i]!; k++) bw.push(stageWidths[i]!);
  } else if (R.depth.ok(values.depth) && R.w0.ok(values.w0) && R.wa.ok(values.wa) && R.wm.ok(values.wm)) {
    bw = blockWidths(values.w0, values.wa, values.wm, values.depth).widths;
  }
  const id = r.id ?? '';
  return { id, model: r.model?.trim() || id, err, errStd, repeats: errors.length, values, stageWidths, stageDepths, blockWidths: bw };
}

/** Read several files; labels repeated across files get the file name appended (baselines included). */
export function readSweeps(files: string[]): Sweep[] {
  const all = files.flatMap((f) => readSweepCsv(f));
  const count = new Map<string, number>();
  for (const s of all) count.set(s.name, (count.get(s.name) ?? 0) + 1);
  for (const s of all) if (count.get(s.name)! > 1) s.name = `${s.name} [${basename(s.file)}]`;
  return all;
}
