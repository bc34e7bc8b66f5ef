/**
 * The sweep CSV (sweep.csv): one row per model, its canonical name (src/arch/identity.ts; empty in files
 * written before names existed), the design (RegNet parameters and the stage lists every model has;
 * `kind` resnet for baselines), its complexity, what training gave, and bookkeeping (status, attempts, seed,
 * config hash). The columns, their cell formats, the row schema, the writer and the one reader live
 * here, below both src/sweep/ (which writes and resumes the files) and src/analyze/ (which reads
 * them). Lists are joined with '-'; a blank number is NaN. Files are rewritten whole (temp + rename),
 * sorted by id, then repeat (a sweep with `repeats: K` has K rows per model, repeat 0..K-1, each with
 * its own train_seed). The sampled recipe fields (HYPER_COLUMNS) follow the complexity columns.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { parseCsvTable, toCsv } from './csv.js';

export const STATUSES = ['ok', 'diverged', 'failed'] as const;
export type RowStatus = (typeof STATUSES)[number];

/** ok and diverged are final; failed may be retried (--retries). */
export const isFinal = (s: RowStatus) => s !== 'failed';

/** Every column in file order, with the format of its cells. */
const COLUMNS = {
  id: 'id', model: 'name', status: 'status', space: 'text', kind: 'kind',
  depth: 'num', w0: 'num', wa: 'num', wm: 'num', group_size: 'groupSize', bottle_ratio: 'num', se_ratio: 'num',
  num_stages: 'int', stage_widths: 'list', stage_depths: 'list', stage_group_widths: 'list', stage_bottle_ratios: 'list',
  params: 'num', flops: 'num', acts: 'num',
  lr: 'hyper', weight_decay: 'hyper', momentum: 'hyper', warmup_epochs: 'hyper', label_smoothing: 'hyper', batch_size: 'hyper',
  drop_path: 'hyper', mixup: 'hyper', cutmix: 'hyper',
  top1: 'num', top5: 'num', top1_err: 'num', top5_err: 'num', final_loss: 'num',
  epochs: 'num', steps: 'num', train_seconds: 'num', images_per_sec: 'num', engine: 'text', device: 'optText', threads: 'optInt', dataset: 'text',
  res: 'int', seed: 'int', train_seed: 'int', repeat: 'repeat', attempts: 'int', error: 'text', sweep: 'text', config_hash: 'hash',
} as const;
export type SweepColumn = keyof typeof COLUMNS;
type CellKind = (typeof COLUMNS)[SweepColumn];
export const SWEEP_COLUMNS = Object.keys(COLUMNS) as SweepColumn[];

/**
 * The recipe fields a sweep config may sample (`hyper`), one column each: the value the row's model
 * trained with, blank when the field was not sampled (the recipe's value applied).
 */
export const HYPER_COLUMNS = ['lr', 'weight_decay', 'momentum', 'warmup_epochs', 'label_smoothing', 'batch_size', 'drop_path', 'mixup', 'cutmix'] as const satisfies readonly SweepColumn[];
export type HyperColumn = (typeof HYPER_COLUMNS)[number];

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
/** columns added later (device, threads): absent or blank in older files */
const optInt = z
  .string()
  .default('')
  .refine((s) => s === '' || /^\d+$/.test(s), 'expected a non-negative integer or nothing')
  .transform((s) => (s === '' ? NaN : Number(s)));

/** Cells as this module writes them: anything else is an error naming the row and column. */
const WRITTEN = {
  id: int,
  name: z.string().default(''),
  status: z.enum(STATUSES),
  text: z.string(),
  optText: z.string().default(''),
  optInt,
  kind: z.enum(['regnet', 'anynet', 'resnet', 'efficientnet']),
  num,
  groupSize: num,
  int,
  list,
  hash: z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex digits'),
  // columns added later: files written before them read as repeat 0 and nothing sampled
  repeat: z
    .string()
    .default('0')
    .transform((s) => (s.trim() === '' ? '0' : s))
    .pipe(int),
  hyper: z.string().default('').pipe(num),
} satisfies Record<CellKind, z.ZodType>;

const looseNum = (s: string) => {
  const t = s.trim();
  return t === '' ? NaN : Number.isFinite(Number(t)) ? Number(t) : NaN;
};

/** '48-104-208-440', '[48, 104]', '48;104' or '48 104' -> numbers; [] when empty or malformed. */
export function parseList(text: string | undefined): number[] {
  if (!text) return [];
  const t = text.trim().replace(/^\[|\]$/g, '');
  if (t === '') return [];
  const v = t.split(/[-;,|\s]+/).filter((p) => p !== '').map(Number);
  return v.every((x) => Number.isFinite(x)) ? v : [];
}

/**
 * Cells of sweep files from other tools or written by hand: ids may be any text, status any word
 * (compared in lower case), a cell that is not a number or a list reads as NaN or [], and a group
 * size may be one per stage (the largest counts, as pycls does).
 */
const FOREIGN = {
  id: z.string(),
  name: z.string(),
  status: z.string().transform((s) => s.trim().toLowerCase()),
  text: z.string(),
  optText: z.string(),
  optInt: z.string().transform(looseNum),
  kind: z.string(),
  num: z.string().transform(looseNum),
  groupSize: z.string().transform((s) => {
    const v = looseNum(s);
    if (!Number.isNaN(v)) return v;
    const gs = parseList(s);
    return gs.length ? Math.max(...gs) : NaN;
  }),
  int: z.string().transform(looseNum),
  list: z.string().transform(parseList),
  hash: z.string(),
  repeat: z.string().transform(looseNum),
  hyper: z.string().transform(looseNum),
} satisfies Record<CellKind, z.ZodType>;

/** One schema field per column, from the cell formats of its kind. */
function shape<C extends Record<CellKind, z.ZodType>>(cells: C): { [K in SweepColumn]: C[(typeof COLUMNS)[K]] } {
  return Object.fromEntries(SWEEP_COLUMNS.map((c) => [c, cells[COLUMNS[c]]])) as { [K in SweepColumn]: C[(typeof COLUMNS)[K]] };
}

/** A row as this module writes it; reading one back needs every column. */
export const SweepRowSchema = z.object(shape(WRITTEN));
export type SweepRow = z.infer<typeof SweepRowSchema>;

/** The same columns read leniently, each optional (see FOREIGN). */
export const PartialSweepRowSchema = z.object(shape(FOREIGN)).partial();
export type PartialSweepRow = z.infer<typeof PartialSweepRowSchema>;

function cell(v: unknown): string {
  if (Array.isArray(v)) return v.join('-');
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return String(v ?? '');
}

export function formatSweepRows(rows: SweepRow[]): string {
  const sorted = [...rows].sort((a, b) => a.id - b.id || a.repeat - b.repeat);
  return toCsv(
    [...SWEEP_COLUMNS],
    sorted.map((r) => Object.fromEntries(SWEEP_COLUMNS.map((c) => [c, cell(r[c])]))),
  );
}

export function writeSweepRows(path: string, rows: SweepRow[]): void {
  writeFileAtomic(path, formatSweepRows(rows));
}

/**
 * Read a sweep CSV. By default every row must be as this module writes it (resuming and merging
 * sweeps); errors name the file, row and column. `partial` reads files with any subset of the columns
 * (at least id, status and top1_err or top1) and lenient cells: analysis of sweeps from elsewhere.
 */
export function readSweepFile(path: string): { columns: string[]; rows: SweepRow[] };
export function readSweepFile(path: string, opts: { partial: true }): { columns: string[]; rows: PartialSweepRow[] };
export function readSweepFile(path: string, opts: { partial?: boolean } = {}): { columns: string[]; rows: Array<SweepRow | PartialSweepRow> } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read sweep file '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { columns, records } = parseCsvTable(text, path, { relaxColumnCount: opts.partial });
  if (opts.partial) {
    const have = new Set(columns);
    const missing = ['id', 'status'].filter((c) => !have.has(c));
    if (!have.has('top1_err') && !have.has('top1')) missing.push('top1_err (or top1)');
    if (missing.length) {
      throw new UsageError(`sweep file '${path}' lacks column(s) ${missing.join(', ')}; found: ${columns.filter((c) => c).join(', ') || '(none)'}`);
    }
  }
  const schema = opts.partial ? PartialSweepRowSchema : SweepRowSchema;
  const rows = records.map((rec, i) => {
    const r = schema.safeParse(rec);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new UsageError(`${path} row ${i + 1}: column '${issue.path.join('.')}': ${issue.message}`);
    }
    return r.data;
  });
  return { columns, rows };
}
