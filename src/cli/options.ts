/**
 * commander parsers for command-line values; each failure is an InvalidArgumentError naming the option.
 * Quantities and ranges (`400M`, `MIN:MAX`) are parsed by util/quantity.ts.
 */
import { InvalidArgumentError } from 'commander';

export function parseIntOption(field: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const v = Number(text);
    if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${field} must be an integer${max < Number.MAX_SAFE_INTEGER ? ` in [${min}, ${max}]` : ` >= ${min}`}.`);
    }
    return v;
  };
}

export function parseFloatOption(field: string, min = -Infinity, max = Infinity) {
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
