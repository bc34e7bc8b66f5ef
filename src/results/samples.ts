/**
 * The sampled-configs CSV written by `regnet sample` and read by `--configs FILE` (train, describe, bench,
 * compare) and sweeps. Lists are joined with '-'. Every row carries the network's canonical name
 * (src/arch/identity.ts) in its `model` column; reading recomputes it from the design columns, so a
 * hand-written file needs none. A row may also name a zoo model (`model` alone) or carry a spec as JSON
 * (`arch`, as results tables do), so a results table can be read back as a configs list.
 */
import { z } from 'zod';
import { canonicalName } from '../arch/identity.js';
import { ModelSpecSchema, type ModelSpec } from '../arch/spec.js';
import { isZooName, zooEntry } from '../arch/zoo.js';
import { regnetParamsError } from '../space/regnet.js';
import type { Sample } from '../space/sampler.js';
import { UsageError } from '../util/errors.js';
import { LIMITS } from '../util/limits.js';
import { readCsv, toCsv, type CsvRecord } from './csv.js';

export const SAMPLE_COLUMNS = [
  'id', 'model', 'depth', 'w0', 'wa', 'wm', 'group_size', 'bottle_ratio', 'se_ratio', 'num_stages',
  'stage_widths', 'stage_depths', 'stage_group_widths', 'params', 'flops', 'acts',
] as const;
/** AnyNet samples add these (their depth is the total block count; w0/wa/wm/group_size are empty). */
export const ANYNET_EXTRA_COLUMNS = ['kind', 'stage_bottle_ratios'] as const;

const optNum = (field: string) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === '') return undefined;
      const v = Number(s);
      if (!Number.isFinite(v)) {
        ctx.addIssue({ code: 'custom', message: `${field} must be a number, got '${s}'` });
        return z.NEVER;
      }
      return v;
    });
const list = (field: string) =>
  z.string().transform((s, ctx) => {
    const parts = s.split('-').map(Number);
    if (s.trim() === '' || parts.some((v) => !Number.isFinite(v) || v <= 0)) {
      ctx.addIssue({ code: 'custom', message: `${field} must be positive numbers joined with '-', got '${s}'` });
      return z.NEVER;
    }
    return parts;
  });

/** A configs row: RegNet parameters, or explicit AnyNet stages. Extra columns are ignored. */
export const ConfigRowSchema = z.object({
  id: z.string().optional(),
  depth: optNum('depth'),
  w0: optNum('w0'),
  wa: optNum('wa'),
  wm: optNum('wm'),
  group_size: optNum('group_size'),
  bottle_ratio: optNum('bottle_ratio'),
  se_ratio: optNum('se_ratio'),
  stage_widths: list('stage_widths').optional(),
  stage_depths: list('stage_depths').optional(),
  stage_group_widths: list('stage_group_widths').optional(),
  stage_bottle_ratios: list('stage_bottle_ratios').optional(),
});
export type ConfigRow = z.infer<typeof ConfigRowSchema>;

/** The model spec of a sampled design (RegNet parameters, or an AnyNet's stages). */
export function sampleSpec(s: Sample): ModelSpec {
  if (s.kind === 'regnet') {
    return {
      kind: 'regnet', depth: s.depth, w0: s.w0, wa: s.wa, wm: s.wm, groupSize: s.group_size,
      bottleRatio: s.bottle_ratio, seRatio: s.se_ratio, groupMinRatio: 0, act: 'relu', norm: 'bn', stemWidth: 32,
    };
  }
  return {
    kind: 'anynet',
    stages: s.stage_widths.map((w, i) => ({
      width: w, depth: s.stage_depths[i]!, groupWidth: s.stage_group_widths[i]!, bottleRatio: s.stage_bottle_ratios[i]!,
    })),
    seRatio: s.se_ratio, act: 'relu', norm: 'bn', stemWidth: 32,
  };
}

export function formatSamples(samples: Sample[]): string {
  const anynet = samples.some((s) => s.kind === 'anynet');
  const header: string[] = [...SAMPLE_COLUMNS, ...(anynet ? ANYNET_EXTRA_COLUMNS : [])];
  const blank = (v: number) => (Number.isNaN(v) ? '' : v);
  const rows = samples.map((s) => ({
    id: s.id,
    model: canonicalName(sampleSpec(s)),
    depth: s.depth,
    w0: blank(s.w0),
    wa: blank(s.wa),
    wm: blank(s.wm),
    group_size: blank(s.group_size),
    bottle_ratio: blank(s.bottle_ratio),
    se_ratio: s.se_ratio,
    num_stages: s.num_stages,
    stage_widths: s.stage_widths.join('-'),
    stage_depths: s.stage_depths.join('-'),
    stage_group_widths: s.stage_group_widths.join('-'),
    params: s.params,
    flops: s.flops,
    acts: s.acts,
    kind: s.kind,
    stage_bottle_ratios: s.stage_bottle_ratios.join('-'),
  }));
  return toCsv(header, rows);
}

/** Turn one configs row into a model spec; errors name the row and the field. */
export function rowToSpec(rec: CsvRecord, where: string): { id: string; spec: ModelSpec } {
  const r = ConfigRowSchema.safeParse(rec);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new UsageError(`${where}: ${i.message.startsWith('Invalid') ? `invalid ${i.path.join('.')}` : i.message}`);
  }
  const c = r.data;
  const id = c.id ?? '';
  if (c.w0 !== undefined && c.wa !== undefined && c.wm !== undefined && c.depth !== undefined && c.group_size !== undefined) {
    const p = { depth: c.depth, w0: c.w0, wa: c.wa, wm: c.wm, groupSize: c.group_size, bottleRatio: c.bottle_ratio ?? 1, seRatio: c.se_ratio ?? 0 };
    const bad = regnetParamsError(p);
    if (bad) throw new UsageError(`${where}: ${bad}`);
    return {
      id,
      spec: {
        kind: 'regnet',
        ...p,
        groupMinRatio: 0,
        act: 'relu',
        norm: 'bn',
        stemWidth: 32,
      },
    };
  }
  if (c.stage_widths && c.stage_depths && c.stage_group_widths) {
    const n = c.stage_widths.length;
    if (c.stage_depths.length !== n || c.stage_group_widths.length !== n) {
      throw new UsageError(`${where}: stage_widths, stage_depths and stage_group_widths must have the same length`);
    }
    checkStageList('stage_depths', c.stage_depths, LIMITS.depth, where);
    checkStageList('stage_widths', c.stage_widths, LIMITS.width, where);
    checkStageList('stage_group_widths', c.stage_group_widths, LIMITS.width, where);
    const br = c.stage_bottle_ratios ?? new Array<number>(n).fill(c.bottle_ratio ?? 1);
    return {
      id,
      spec: {
        kind: 'anynet',
        stages: c.stage_widths.map((w, i) => ({ width: w, depth: c.stage_depths![i]!, groupWidth: c.stage_group_widths![i]!, bottleRatio: br[i] ?? 1 })),
        seRatio: c.se_ratio ?? 0,
        act: 'relu',
        norm: 'bn',
        stemWidth: 32,
      },
    };
  }
  const arch = rec.arch?.trim();
  if (arch) return { id, spec: specFromJson(arch, where) };
  const model = rec.model?.trim();
  if (model && isZooName(model)) return { id, spec: zooEntry(model).spec };
  throw new UsageError(
    `${where}: needs columns depth,w0,wa,wm,group_size (or stage_widths,stage_depths,stage_group_widths, or a spec in 'arch', or a zoo name in 'model')`,
  );
}

function specFromJson(text: string, where: string): ModelSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`${where}: arch is not JSON`);
  }
  const r = ModelSpecSchema.safeParse(raw);
  if (!r.success) throw new UsageError(`${where}: arch is not a model spec (${r.error.issues[0]!.path.join('.') || 'kind'}: ${r.error.issues[0]!.message})`);
  return r.data;
}

export interface ConfigEntry {
  /** the row's `id` (its 0-based index when the file has no id column) */
  id: string;
  spec: ModelSpec;
  /** canonical name of the network (src/arch/identity.ts) */
  name: string;
}

/** AnyNet stage lists: whole numbers from 1 to `max`. */
function checkStageList(field: string, values: number[], max: number, where: string): void {
  const bad = values.find((v) => !Number.isInteger(v) || v < 1 || v > max);
  if (bad !== undefined) throw new UsageError(`${where}: invalid ${field} '${values.join('-')}': each must be an integer in [1, ${max}], got ${bad}`);
}

/** Read all configs of a CSV file; ids must be unique (a row is chosen by its id). */
export function readConfigs(path: string): ConfigEntry[] {
  const rows = readCsv(path);
  if (rows.length === 0) throw new UsageError(`configs file '${path}' has no rows`);
  const rowOfId = new Map<string, number>();
  return rows.map((rec, i) => {
    const where = `${path} row ${i + 1}`;
    const r = rowToSpec(rec, where);
    const id = r.id || String(i);
    const first = rowOfId.get(id);
    if (first !== undefined) throw new UsageError(`${path}: id '${id}' is on rows ${first + 1} and ${i + 1}; ids must be unique`);
    rowOfId.set(id, i);
    let name: string;
    try {
      name = canonicalName(r.spec);
    } catch (e) {
      throw new UsageError(`${where}: ${(e as Error).message}`);
    }
    return { id, spec: r.spec, name };
  });
}

/** One row by id (or by 0-based index when no id column matches). */
export function readConfigRow(path: string, rowId: string): ConfigEntry {
  const all = readConfigs(path);
  const hit = all.find((r) => r.id === rowId);
  if (hit) return hit;
  throw new UsageError(`no row with id '${rowId}' in '${path}' (ids: ${idList(all)})`);
}

function idList(all: ConfigEntry[]): string {
  return `${all.slice(0, 8).map((r) => r.id).join(', ')}${all.length > 8 ? ', ...' : ''}`;
}

/**
 * `--rows 0,3-5`: ids and inclusive integer ranges, in the order given, each once. Ids match the `id`
 * column (the row index when the file has none).
 */
export function parseRowSelection(text: string, field = '--rows'): string[] {
  const out: string[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') throw new UsageError(`${field}: '${text}' has an empty entry (expected ids and ranges such as 0,3-5)`);
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (a > b) throw new UsageError(`${field}: range '${part}' runs backwards`);
      if (b - a > 1_000_000) throw new UsageError(`${field}: range '${part}' is too long`);
      for (let i = a; i <= b; i++) out.push(String(i));
    } else {
      out.push(part);
    }
  }
  return [...new Set(out)];
}

/** The rows of a configs file that a selection names (all rows without one), in the selection's order. */
export function selectConfigs(path: string, rows?: string[]): ConfigEntry[] {
  const all = readConfigs(path);
  if (!rows) return all;
  return rows.map((id) => {
    const hit = all.find((r) => r.id === id);
    if (!hit) throw new UsageError(`--rows: no row with id '${id}' in '${path}' (ids: ${idList(all)})`);
    return hit;
  });
}
