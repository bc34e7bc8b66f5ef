/**
 * Design-space files (configs/spaces/*.json): a distribution, range and quantization per parameter,
 * plus the constraints a sample must meet. zod is the source of truth for the format.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageError } from '../util/errors.js';
import { LIMITS } from '../util/limits.js';
import { configPath } from '../util/paths.js';
import { ruleForColumn } from './regnet.js';

/** min <= max, reported on `min` with both values (a reversed range would draw nothing or garbage). */
function orderedRange(d: { min: number; max: number }, ctx: z.RefinementCtx): void {
  if (d.min > d.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${d.min} is larger than max ${d.max}` });
}

/** How one scalar parameter is drawn. Ranges are closed; unknown keys (a misspelt `quantize`) are refused. */
export const DistSchema = z.discriminatedUnion('dist', [
  z.object({ dist: z.literal('fixed'), value: z.number() }).strict(),
  z.object({ dist: z.literal('choice'), values: z.array(z.number()).min(1) }).strict(),
  z
    .object({ dist: z.literal('uniform'), min: z.number(), max: z.number(), quantize: z.number().positive().optional() })
    .strict()
    .superRefine(orderedRange),
  z
    .object({ dist: z.literal('uniform_int'), min: z.number().int(), max: z.number().int() })
    .strict()
    .superRefine(orderedRange),
  z
    .object({
      dist: z.literal('log_uniform'),
      min: z.number().positive(),
      max: z.number().positive(),
      quantize: z.number().positive().optional(),
    })
    .strict()
    .superRefine(orderedRange),
  /** a power of two between min and max (log-uniform over the exponents) */
  z
    .object({ dist: z.literal('pow2'), min: z.number().positive(), max: z.number().positive() })
    .strict()
    .superRefine(orderedRange),
  /** log-uniform; values below `quantize` snap to the nearest power of two, others to multiples of `quantize` */
  z
    .object({
      dist: z.literal('pow2_or_log_uniform'),
      min: z.number().positive(),
      max: z.number().positive(),
      quantize: z.number().positive(),
    })
    .strict()
    .superRefine(orderedRange),
]);
export type Dist = z.infer<typeof DistSchema>;

/** The largest value a distribution can give. */
function distMax(d: Dist): number {
  if (d.dist === 'fixed') return d.value;
  if (d.dist === 'choice') return Math.max(...d.values);
  return d.max;
}

/** A depth or width distribution must stay within what a network can be built with. */
function bounded(limit: number) {
  return DistSchema.superRefine((d, ctx) => {
    const top = distMax(d);
    if (top > limit)
      ctx.addIssue({
        code: 'custom',
        path: [d.dist === 'fixed' ? 'value' : d.dist === 'choice' ? 'values' : 'max'],
        message: `${top} is above the limit of ${limit}`,
      });
  });
}

const RangeSchema = z.tuple([z.number().min(0), z.number().min(0)]).refine((r) => r[0] <= r[1], 'MIN is larger than MAX');

const Common = {
  name: z.string().min(1),
  description: z.string().optional(),
  /** resolution and classes the complexity constraints are measured at */
  res: z.number().int().positive().max(LIMITS.res).default(224),
  num_classes: z.number().int().positive().max(LIMITS.numClasses).default(1000),
  in_chans: z.number().int().positive().max(LIMITS.inChans).default(3),
  stem: z.enum(['imagenet', 'small']).default('imagenet'),
  constraints: z
    .object({
      flops: RangeSchema.optional(),
      params: RangeSchema.optional(),
      acts: RangeSchema.optional(),
    })
    .strict()
    .default({}),
};

/**
 * Fixed and choice values of a RegNet parameter must lie in its range (REGNET_PARAM_RULES). Drawn
 * values are checked when drawn: the sampler rejects those outside the same ranges.
 */
function fixedValuesInRange(params: Record<string, Dist>, ctx: z.RefinementCtx): void {
  for (const [column, d] of Object.entries(params)) {
    const r = ruleForColumn(column);
    if (!r) continue;
    const values = d.dist === 'fixed' ? [d.value] : d.dist === 'choice' ? d.values : [];
    const i = values.findIndex((v) => !r.ok(v));
    if (i >= 0) ctx.addIssue({ code: 'custom', path: d.dist === 'fixed' ? [column, 'value'] : [column, 'values', i], message: r.rule });
  }
}

export const RegNetSpaceSchema = z
  .object({
    kind: z.literal('regnet'),
    ...Common,
    params: z
      .object({
        depth: bounded(LIMITS.depth),
        w0: bounded(LIMITS.width),
        wa: DistSchema,
        wm: DistSchema,
        group_size: bounded(LIMITS.width),
        bottle_ratio: DistSchema.default({ dist: 'fixed', value: 1 }),
        se_ratio: DistSchema.default({ dist: 'fixed', value: 0 }),
      })
      .strict()
      .superRefine(fixedValuesInRange),
    /** the paper's rule: exactly this many stages, and num_stages == total_stages */
    num_stages: z.number().int().positive().max(LIMITS.depth).default(4),
  })
  .strict();

export const AnyNetSpaceSchema = z
  .object({
    kind: z.literal('anynet'),
    ...Common,
    num_stages: z.number().int().positive().max(LIMITS.depth).default(4),
    stage: z
      .object({
        depth: bounded(LIMITS.depth),
        width: bounded(LIMITS.width),
        bottle_ratio: DistSchema,
        group_width: bounded(LIMITS.width),
      })
      .strict(),
    se_ratio: DistSchema.default({ dist: 'fixed', value: 0 }),
  })
  .strict();

export const SpaceSchema = z.discriminatedUnion('kind', [RegNetSpaceSchema, AnyNetSpaceSchema]);
export type Space = z.infer<typeof SpaceSchema>;
export type RegNetSpace = z.infer<typeof RegNetSpaceSchema>;
export type AnyNetSpace = z.infer<typeof AnyNetSpaceSchema>;

/** A space given as a path, or as a name of configs/spaces/NAME.json. */
export function resolveSpacePath(space: string): string {
  if (existsSync(space)) return space;
  const shipped = configPath('spaces', space.endsWith('.json') ? space : `${space}.json`);
  if (existsSync(shipped)) return shipped;
  throw new UsageError(`unknown space '${space}': give a JSON file or one of the names in configs/spaces/`);
}

/** Read and validate a space file; errors name the file and the first bad field. */
export function loadSpace(path: string): Space {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read space file '${path}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`space file '${path}' is not valid JSON: ${(e as Error).message}`);
  }
  return parseSpace(json, path);
}

export function parseSpace(json: unknown, where = 'space'): Space {
  const r = SpaceSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UsageError(`${where}: invalid field '${issue.path.join('.') || '(root)'}': ${issue.message}`);
  }
  return r.data;
}
