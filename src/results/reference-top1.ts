/**
 * Published ImageNet top-1 of reference weights (configs/reference/imagenet-top1.json, every number with
 * its source), and the top-1 a user's own results-*.csv files hold for a model.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../util/errors.js';
import { configPath } from '../util/paths.js';
import { readCsv } from './csv.js';

export const RefKindSchema = z.enum(['original', 'modern', 'paper']);
export type RefKind = z.infer<typeof RefKindSchema>;

export const RefEntrySchema = z.object({
  model: z.string().min(1),
  kind: RefKindSchema,
  top1: z.number().min(0).max(100),
  img_size: z.number().int().positive(),
  /** the weights (timm tag) or training run the number belongs to */
  weights: z.string(),
  source: z.string().min(1),
  note: z.string().optional(),
});
export type RefEntry = z.infer<typeof RefEntrySchema>;

const RefFileSchema = z.object({
  description: z.string(),
  sources: z.record(z.string(), z.string()),
  entries: z.array(RefEntrySchema),
});

/** configs/reference/imagenet-top1.json of the package. */
export function referenceFile(): string {
  return configPath('reference', 'imagenet-top1.json');
}

let cache: RefEntry[] | null = null;

export function referenceEntries(): RefEntry[] {
  if (cache) return cache;
  const path = referenceFile();
  const parsed = RefFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const seen = new Set<string>();
  for (const e of parsed.data.entries) {
    const k = `${e.model}/${e.kind}`;
    if (seen.has(k)) throw new Error(`${path}: two '${e.kind}' entries for ${e.model}`);
    seen.add(k);
  }
  cache = parsed.data.entries;
  return cache;
}

export interface ModelReference {
  original?: RefEntry;
  modern?: RefEntry;
  paper?: RefEntry;
}

export function referenceTop1(model: string): ModelReference {
  const out: ModelReference = {};
  for (const e of referenceEntries()) if (e.model === model) out[e.kind] = e;
  return out;
}

/** The single reference number for plots: original weights, else the paper's. */
export function primaryTop1(model: string): number | undefined {
  const r = referenceTop1(model);
  return (r.original ?? r.paper)?.top1;
}

export interface UserTop1 {
  top1: number;
  img_size: number;
  /** results-<dataset>.csv file name */
  file: string;
  dataset: string;
}

/**
 * Every row for `model` in dir/results-*.csv (timm format). A missing directory gives none; a file
 * without the model/top1 columns is a usage error naming it.
 */
export function userTop1(dir: string, model: string): UserTop1[] {
  if (!existsSync(dir)) return [];
  const out: UserTop1[] = [];
  for (const f of readdirSync(dir).filter((n) => /^results-.+\.csv$/.test(n)).sort()) {
    const rows = readCsv(join(dir, f));
    if (rows.length && !('model' in rows[0]! && 'top1' in rows[0]!)) throw new UsageError(`${join(dir, f)}: expected timm results columns model,top1,...`);
    for (const r of rows) {
      if (r.model !== model) continue;
      const top1 = Number(r.top1);
      if (!Number.isFinite(top1)) continue;
      out.push({ top1, img_size: Number(r.img_size), file: f, dataset: f.replace(/^results-/, '').replace(/\.csv$/, '') });
    }
  }
  return out;
}
