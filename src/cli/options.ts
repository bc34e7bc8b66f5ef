/**
 * commander parsers for command-line values; each failure is an InvalidArgumentError naming the option.
 * Quantities and ranges (`400M`, `MIN:MAX`) are parsed by util/quantity.ts.
 */
import { InvalidArgumentError } from 'commander';
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
      throw new InvalidArgumentError(`${field} must be an integer${max < Number.MAX_SAFE_INTEGER ? ` in [${min}, ${max}]` : ` >= ${min}`}.`);
    }
    return v;
  };
}

export function parseFloatOption(field: string, min = -Infinity, max = OPTION_MAX[field] ?? Infinity) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${field} must be a number${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` and <= ${max}` : ''}.`);
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
