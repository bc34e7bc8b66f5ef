/**
 * commander parsers for command-line values; each failure is an InvalidArgumentError naming the option.
 * Quantities and ranges (`400M`, `MIN:MAX`) are parsed by util/quantity.ts. Also the option groups and
 * spellings shared by several commands: hidden aliases for old flag names, --progress, and the network
 * options (--img-size, --num-classes, --in-chans, --stem) with the one default-stem rule.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { defaultStem, SMALL_STEM_BELOW, STEMS, type Stem } from '../arch/spec.js';
import { LIMITS } from '../util/limits.js';

/**
 * The upper bound of every size flag, wherever it is declared (a declaration may give a tighter one):
 * a huge value fails here, naming the flag and the range, not later in an allocation.
 */
export const OPTION_MAX: Readonly<Record<string, number>> = {
  '--res': LIMITS.res,
  '--img-size': LIMITS.res,
  '--batch': LIMITS.batch,
  '--batch-size': LIMITS.batch,
  '--num-classes': LIMITS.numClasses,
  '--in-chans': LIMITS.inChans,
  '--depth': LIMITS.depth,
  '--w0': LIMITS.width,
  '--group-size': LIMITS.width,
  '--threads': LIMITS.threads,
  '--n': LIMITS.samples,
  '--max-draws': LIMITS.draws,
  '--epochs': LIMITS.epochs,
  '--steps': LIMITS.steps,
  '--limit-train': LIMITS.images,
  '--limit-val': LIMITS.images,
  '--limit': LIMITS.images,
  '--warmup': LIMITS.rounds,
  '--iters': LIMITS.rounds,
  '--retries': LIMITS.retries,
  '--shards': LIMITS.shards,
  '--seconds': LIMITS.seconds,
  '--wa': 1e6,
  '--wm': 1e3,
};

export function parseIntOption(field: string, min = 1, max = OPTION_MAX[field] ?? Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const v = Number(text);
    if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(
        `${field} must be an integer${max < Number.MAX_SAFE_INTEGER ? ` in [${min}, ${max}]` : ` >= ${min}`}.`,
      );
    }
    return v;
  };
}

export function parseFloatOption(field: string, min = -Infinity, max = OPTION_MAX[field] ?? Infinity) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
      throw new InvalidArgumentError(
        `${field} must be a number${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` and <= ${max}` : ''}.`,
      );
    }
    return v;
  };
}

export function parseChoice<T extends string>(field: string, choices: readonly T[]) {
  return (text: string): T => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new InvalidArgumentError(`${field} must be one of ${choices.join(', ')}.`);
    }
    return text as T;
  };
}

/**
 * Another spelling of an option: what it sets lands on `target`, the canonical option's attribute (so
 * `--res 32` and `--img-size 32` are the same to the action). Hidden from --help unless given a description.
 */
export class AliasOption extends Option {
  readonly #target: string;

  constructor(flags: string, target: string, description?: string) {
    super(flags, description);
    this.#target = target;
    if (description === undefined) this.hideHelp();
  }

  override attributeName(): string {
    return this.#target;
  }
}

/** Add an old spelling of an option (hidden); `preset` is the value a flag without an argument sets. */
export function addAlias(cmd: Command, flags: string, target: string, parse?: (text: string) => unknown, preset?: unknown): Command {
  const alias = new AliasOption(flags, target);
  if (parse) alias.argParser(parse);
  if (preset !== undefined) alias.preset(preset);
  return cmd.addOption(alias);
}

export const PROGRESS_MODES = ['auto', 'plain', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** --progress auto|plain|none (old spelling: -q/--quiet = none). */
export function addProgressOption(
  cmd: Command,
  dflt: ProgressMode = 'auto',
  help = 'progress on stderr: auto (a bar on a terminal, else lines), plain (lines) or none',
): Command {
  cmd.option('--progress <mode>', help, parseChoice('--progress', PROGRESS_MODES), dflt);
  return addAlias(cmd, '-q, --quiet', 'progress', undefined, 'none');
}

/** The help text of --stem, stating the default rule (src/arch/spec.ts defaultStem). */
export const STEM_HELP = `imagenet (stride-2 stem; ResNets: 7x7 + max pool) or small (3x3 stride-1 conv, no pool); default: small below ${SMALL_STEM_BELOW} px, else imagenet`;

export interface NetworkCliOptions {
  imgSize: number;
  numClasses: number;
  inChans: number;
  stem?: Stem;
}

/**
 * --img-size, --num-classes, --in-chans and --stem: the options that shape a built network, declared once
 * for every command that builds one. A number is the option's default; a string describes a default the
 * command works out itself (the option is then left undefined when not given).
 */
export function addNetworkOptions(
  cmd: Command,
  d: { imgSize?: number | string; numClasses?: number | string; inChans?: number | string } = {},
): Command {
  const option = (flags: string, help: string, parse: (text: string) => number, dflt: number | string | undefined) =>
    typeof dflt === 'number'
      ? cmd.option(flags, help, parse, dflt)
      : cmd.option(flags, dflt === undefined ? help : `${help} (default: ${dflt})`, parse);
  option('--img-size <n>', 'input image size (px)', parseIntOption('--img-size', 1), d.imgSize ?? 224);
  addAlias(cmd, '--res <n>', 'imgSize', parseIntOption('--res', 1));
  option('--num-classes <n>', 'classifier classes', parseIntOption('--num-classes', 1), d.numClasses ?? 1000);
  option('--in-chans <n>', 'input channels', parseIntOption('--in-chans', 1), d.inChans ?? 3);
  cmd.option('--stem <s>', STEM_HELP, parseChoice('--stem', STEMS));
  return cmd;
}

/** Build options from the network options: the stem follows the shared rule unless named. */
export function networkBuildOptions(o: NetworkCliOptions): { res: number; numClasses: number; inChans: number; stem: Stem } {
  return { res: o.imgSize, numClasses: o.numClasses, inChans: o.inChans, stem: o.stem ?? defaultStem(o.imgSize) };
}
