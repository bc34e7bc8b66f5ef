/**
 * Sweep files (configs/sweeps/*.json): a design space, constraints, how many models, a seed, and the
 * short training schedule every model gets. The config hash names "the same sweep" across shards,
 * machines and reruns; it leaves out what does not change results (description, n, data_dir), so
 * raising `n` extends a sweep: the sampler is sequential, the first models stay the same. It includes
 * the thread count and the device kind (cpu or cuda) the models train with, as `runIdentity` gives them:
 * both change the numbers, so rows made with other ones are another run, never merged as this one.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { DATASET_NAMES } from '../data/types.js';
import { ENGINE_CHOICES, type EngineChoice } from '../engine/types.js';
import { loadSpace, resolveSpacePath, type Space } from '../space/space-config.js';
import { HyperOverridesSchema, HyperSchema } from '../train/hyper.js';
import { loadRecipe } from '../train/recipe.js';
import type { TrainRequest } from '../train/types.js';
import { isZooName } from '../arch/zoo.js';
import { HYPER_FIELDS, HyperSpecSchema } from './hyper.js';
import type { SweepModel } from './models.js';
import { UsageError } from '../util/errors.js';
import { LIMITS } from '../util/limits.js';
import { configPath } from '../util/paths.js';
import { parseQuantity } from '../util/quantity.js';

/** 400M, "0.4G" or 4e8 */
const Quantity = z.union([z.number().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  try {
    return parseQuantity(v, 'constraint');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
const Range = z.tuple([Quantity, Quantity]).refine((r) => r[0] <= r[1], 'MIN is larger than MAX');

/** A recipe every model of the sweep would fail to load is refused with the config, not per model. */
function knownRecipe(recipe: string | undefined, ctx: z.RefinementCtx): void {
  if (recipe === undefined) return;
  try {
    loadRecipe(recipe);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^--recipe: /, '') });
  }
}

/** The trainer's override fields (TrainRequest.overrides, bounds from HyperSchema), checked strictly so typos fail early. */
export const OverridesSchema = HyperOverridesSchema.strict();

const REPEATS_RANGE = `must be an integer in [1, ${LIMITS.repeats}]`;

export const SweepConfigSchema = z
  .object({
    /** also the default output folder runs/<name>: one plain folder name, never '.', '..' or a path */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
      .refine((n) => n !== '.' && n !== '..', "'.' and '..' are not sweep names"),
    description: z.string().optional(),
    /** a space name in configs/spaces/ or a path (relative to this file) */
    space: z.string().min(1).optional(),
    /** instead of a space: a samples CSV (from regnet sample; relative to this file) whose rows are trained */
    samples: z.string().min(1).optional(),
    /** zoo models trained beside the sampled ones, with the same recipe (e.g. ["resnet18", "resnet50"]) */
    baselines: z.array(z.string().refine(isZooName, { message: 'not a zoo model name (see regnet models)' })).optional(),
    /** override the space's complexity ranges (measured at res / in_chans / num_classes below) */
    constraints: z.object({ flops: Range.optional(), params: Range.optional(), acts: Range.optional() }).strict().default({}),
    /** models to sample from the space (required with one); with a samples file, its first n rows */
    n: z.number().int().min(1).max(LIMITS.samples).optional(),
    seed: z.number().int().min(0),
    /** one training seed for every model (default: model i trains with a seed derived from seed and i) */
    train_seed: z.number().int().min(0).optional(),
    dataset: z.enum(DATASET_NAMES),
    data_dir: z.string().optional(),
    recipe: z.string().optional().superRefine(knownRecipe),
    overrides: OverridesSchema.default({}),
    /** recipe fields sampled per model beside the architecture, e.g. {"lr": {"dist": "log_uniform", "low": 0.01, "high": 1}} */
    hyper: HyperSpecSchema.optional(),
    /** each model trains this many times, with different seeds (one row each; analysis averages them) */
    repeats: z
      .number({ error: REPEATS_RANGE })
      .int({ error: REPEATS_RANGE })
      .min(1, { error: REPEATS_RANGE })
      .max(LIMITS.repeats, { error: REPEATS_RANGE })
      .optional(),
    limit_train: HyperSchema.shape.limitTrain.optional(),
    limit_val: HyperSchema.shape.limitVal.optional(),
    engine: z.enum(ENGINE_CHOICES).default('auto'),
    /** engine threads per model (default: this machine's cores); part of the config hash */
    threads: z.number().int().min(1).max(LIMITS.threads).optional(),
    /** torch device: cpu (default), cuda or cuda:N; its kind (cpu/cuda) is part of the config hash, the index is not */
    device: z
      .string()
      .regex(/^(cpu|cuda(:\d+)?)$/, 'expected cpu, cuda or cuda:N')
      .optional(),
    /** the network's input: sampling measures complexity at the same shape the models train at */
    res: z.number().int().min(8).max(LIMITS.res).optional(),
    stem: z.enum(['imagenet', 'small']).optional(),
    in_chans: z.number().int().min(1).max(LIMITS.inChans).optional(),
    num_classes: z.number().int().min(1).max(LIMITS.numClasses).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (c.space !== undefined && c.samples !== undefined) issue('samples', "give either 'space' or 'samples', not both");
    else if (c.space === undefined && c.samples === undefined && !c.baselines?.length)
      issue('space', "needs 'space', 'samples' or 'baselines'");
    if (c.space !== undefined && c.n === undefined) issue('n', "a sweep over a space needs 'n'");
    for (const field of Object.keys(c.hyper ?? {}) as Array<keyof typeof HYPER_FIELDS>) {
      const key = HYPER_FIELDS[field];
      if (c.overrides[key] !== undefined) issue('hyper', `${field} is sampled here and fixed in overrides.${key}: give one`);
    }
  });
export type SweepConfig = z.infer<typeof SweepConfigSchema>;

export interface ResolvedSweep {
  config: SweepConfig;
  /** the space with the config's shape and constraints applied (sweeps over a space) */
  space?: Space;
  /** the samples CSV whose rows are the models (sweeps over a samples file) */
  samplesFile?: string;
  /** an explicit model list instead of space/samples/baselines (regnet train with several models) */
  models?: SweepModel[];
  /** sha256 (16 hex) of everything that changes results */
  hash: string;
  file?: string;
}

export function parseSweepConfig(json: unknown, where = 'sweep config'): SweepConfig {
  const r = SweepConfigSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UsageError(`${where}: invalid field '${issue.path.join('.') || '(root)'}': ${issue.message}`);
  }
  return r.data;
}

/** A sweep given as a path, or as a name of configs/sweeps/NAME.json. */
export function resolveSweepPath(nameOrPath: string): string {
  if (existsSync(nameOrPath)) return nameOrPath;
  const shipped = configPath('sweeps', nameOrPath.endsWith('.json') ? nameOrPath : `${nameOrPath}.json`);
  if (existsSync(shipped)) return shipped;
  throw new UsageError(`unknown sweep config '${nameOrPath}': give a JSON file or a name in configs/sweeps/`);
}

/** Command-line flags that override config fields (before hashing, so they change the hash when they change results). */
export interface SweepFlags {
  engine?: EngineChoice;
  threads?: number;
  device?: string;
  n?: number;
  epochs?: number;
  steps?: number;
  limitTrain?: number;
  limitVal?: number;
}

export function loadSweepConfig(nameOrPath: string, cli: SweepFlags = {}): ResolvedSweep {
  const path = resolveSweepPath(nameOrPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read sweep config '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const config = parseSweepConfig(json, path);
  if (cli.engine !== undefined) config.engine = cli.engine;
  if (cli.threads !== undefined) config.threads = cli.threads;
  if (cli.device !== undefined) config.device = cli.device;
  if (cli.n !== undefined) config.n = cli.n;
  if (cli.epochs !== undefined) config.overrides.epochs = cli.epochs;
  if (cli.steps !== undefined) config.overrides.steps = cli.steps;
  if (cli.limitTrain !== undefined) config.limit_train = cli.limitTrain;
  if (cli.limitVal !== undefined) config.limit_val = cli.limitVal;
  // a space path is relative to the sweep file; a bare name means configs/spaces/NAME.json
  let space: Space | undefined;
  if (config.space !== undefined) {
    const rel = resolve(dirname(path), config.space);
    space = loadSpace(!isAbsolute(config.space) && config.space.includes('/') && existsSync(rel) ? rel : resolveSpacePath(config.space));
  }
  const resolved = resolveSweep(config, space, resolve(path));
  if (config.samples !== undefined) {
    resolved.samplesFile = resolve(dirname(path), config.samples);
    if (!existsSync(resolved.samplesFile))
      throw new UsageError(`${path}: samples file '${config.samples}' not found (looked for ${resolved.samplesFile})`);
  }
  return resolved;
}

/**
 * What of the machine a result depends on: the thread count (the config's, else this machine's cores:
 * libtorch's CPU kernels split reductions by thread, so the last bits of a loss move with it) and the
 * device kind. The CUDA index is left out so that `--devices cuda:0,cuda:1` workers make one sweep.
 */
export function runIdentity(config: Pick<SweepConfig, 'threads' | 'device'>): { device: 'cpu' | 'cuda'; threads: number } {
  return { device: config.device?.startsWith('cuda') ? 'cuda' : 'cpu', threads: config.threads ?? availableParallelism() };
}

/**
 * Apply the config's shape/constraints to the space and compute the hash. The hash leaves out what
 * does not change a model's numbers: which models (n, the samples file, baselines: every row names its
 * model), how many repeats (every row names its repeat), where the data lives, which CUDA device. The
 * sampled recipe fields (`hyper`) are in it (each row records its drawn values), and threads and the
 * device kind enter as runIdentity.
 */
export function resolveSweep(config: SweepConfig, baseSpace?: Space, file?: string): ResolvedSweep {
  const space: Space | undefined = baseSpace && {
    ...baseSpace,
    res: config.res ?? baseSpace.res,
    stem: config.stem ?? baseSpace.stem,
    in_chans: config.in_chans ?? baseSpace.in_chans,
    num_classes: config.num_classes ?? baseSpace.num_classes,
    constraints: { ...baseSpace.constraints, ...definedOnly(config.constraints) },
  };
  // repeats, like n, only adds rows: the rows of a smaller count stay valid
  const { description: _d, n: _n, threads: _t, data_dir: _dd, samples: _s, baselines: _b, device: _dv, repeats: _r, ...rest } = config;
  const hash = createHash('sha256')
    .update(canonicalJson({ ...rest, space, run: runIdentity(config) }))
    .digest('hex')
    .slice(0, 16);
  return { config, space, hash, file };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** JSON with sorted keys, so the hash does not depend on key order in the file. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The trainer request for one model, minus the per-model parts the runner fills in. */
export function baseRequest(s: ResolvedSweep): Omit<TrainRequest, 'model' | 'seed'> {
  const c = s.config;
  return {
    dataset: c.dataset,
    dataDir: c.data_dir,
    recipe: c.recipe,
    overrides: definedOnly({
      ...c.overrides,
      res: s.space?.res ?? c.res,
      stem: s.space?.stem ?? c.stem,
      inChans: s.space?.in_chans ?? c.in_chans,
    }),
    engine: c.engine,
    threads: c.threads,
    device: c.device,
    limitTrain: c.limit_train,
    limitVal: c.limit_val,
  };
}
