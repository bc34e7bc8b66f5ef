/**
 * Published ImageNet top-1 of reference weights (configs/reference/imagenet-top1.json, every number with
 * its source). The user's own results are read by own-results.ts.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { configPath } from '../util/paths.js';

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
