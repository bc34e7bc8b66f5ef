/**
 * Recipe fields a sweep samples beside the architecture (a sweep config's `hyper`): each field (lr,
 * weight_decay, ...) has a distribution, `uniform` or `log_uniform` over [low, high], or `choice` of
 * values. Every model's draw comes from the sweep seed, the field name and the model's canonical name
 * alone, so it is the same on every shard, worker and rerun, does not move when `n` grows, and adding a
 * field leaves the draws of the others unchanged. Drawn values are rounded to 6 significant digits (kept
 * inside the range), so the value in the row is exactly the value trained with.
 */
import { z } from 'zod';
import { HYPER_COLUMNS, type HyperColumn } from '../results/sweep-rows.js';
import { compileDist } from '../space/dist.js';
import { HyperSchema, type HyperOverrides } from '../train/hyper.js';
import { Rng } from '../util/rng.js';

/** A sweep's name for each field, and the trainer override it sets. */
export const HYPER_FIELDS = {
  lr: 'lr',
  weight_decay: 'weightDecay',
  momentum: 'momentum',
  warmup_epochs: 'warmupEpochs',
  label_smoothing: 'labelSmoothing',
  batch_size: 'batchSize',
  drop_path: 'dropPath',
  mixup: 'mixup',
  cutmix: 'cutmix',
} as const satisfies Record<HyperColumn, keyof HyperOverrides & keyof typeof HyperSchema.shape>;

/** Fields that take whole numbers: only `choice` (of integers) samples them. */
const INTEGER_FIELDS: ReadonlySet<HyperColumn> = new Set(['batch_size']);

const range = (dist: 'uniform' | 'log_uniform') =>
  z
    .object({
      dist: z.literal(dist),
      low: dist === 'log_uniform' ? z.number({ error: 'must be a number > 0' }).positive() : z.number({ error: 'must be a number' }),
      high: z.number({ error: 'must be a number' }),
    })
    .strict()
    .refine((d) => d.low < d.high, { message: 'must be larger than low', path: ['high'] });

export const HyperDistSchema = z.discriminatedUnion(
  'dist',
  [range('uniform'), range('log_uniform'), z.object({ dist: z.literal('choice'), values: z.array(z.number()).min(1) }).strict()],
  { error: "'dist' must be uniform, log_uniform or choice" },
);
export type HyperDist = z.infer<typeof HyperDistSchema>;

/** The sampled fields, each checked against the trainer's bounds for it (HyperSchema). */
export const HyperSpecSchema = z
  .record(z.string(), HyperDistSchema)
  .superRefine((spec, ctx) => {
    for (const [field, d] of Object.entries(spec)) {
      if (!(HYPER_COLUMNS as readonly string[]).includes(field)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `unknown field: allowed ${HYPER_COLUMNS.join(', ')}` });
        continue;
      }
      const bounds = HyperSchema.shape[HYPER_FIELDS[field as HyperColumn]];
      const check = (v: number, path: (string | number)[]) => {
        const r = bounds.safeParse(v);
        if (!r.success) ctx.addIssue({ code: 'custom', path: [field, ...path], message: r.error.issues[0]!.message });
      };
      if (d.dist === 'choice') d.values.forEach((v, i) => check(v, ['values', i]));
      else if (INTEGER_FIELDS.has(field as HyperColumn))
        ctx.addIssue({ code: 'custom', path: [field, 'dist'], message: 'a whole-number field is sampled with choice' });
      else {
        check(d.low, ['low']);
        check(d.high, ['high']);
      }
    }
  })
  .transform((spec) => spec as Partial<Record<HyperColumn, HyperDist>>);
export type HyperSpec = z.infer<typeof HyperSpecSchema>;

/** One model's sampled values (only the fields the sweep samples). */
export type HyperValues = Partial<Record<HyperColumn, number>>;

/** Six significant digits, kept inside [low, high]. */
function tidy(v: number, low: number, high: number): number {
  const t = Number(v.toPrecision(6));
  return Math.min(high, Math.max(low, t));
}

/** Draw one field for one model (see the file comment for what the draw depends on). */
export function drawField(field: HyperColumn, d: HyperDist, seed: number, modelName: string): number {
  const rng = Rng.derive(seed, `hyper:${field}:${modelName}`);
  if (d.dist === 'choice') return compileDist({ dist: 'choice', values: d.values })(rng);
  const v = compileDist({ dist: d.dist, min: d.low, max: d.high })(rng);
  return tidy(v, d.low, d.high);
}

/** Every sampled field of one model, in HYPER_COLUMNS order. */
export function drawHyper(spec: HyperSpec | undefined, seed: number, modelName: string): HyperValues {
  const out: HyperValues = {};
  if (!spec) return out;
  for (const field of HYPER_COLUMNS) {
    const d = spec[field];
    if (d) out[field] = drawField(field, d, seed, modelName);
  }
  return out;
}

/** The trainer overrides for sampled values. */
export function hyperOverrides(values: HyperValues): HyperOverrides {
  const out: HyperOverrides = {};
  for (const [field, v] of Object.entries(values) as Array<[HyperColumn, number]>) (out as Record<string, number>)[HYPER_FIELDS[field]] = v;
  return out;
}
