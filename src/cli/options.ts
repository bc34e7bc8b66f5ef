/** Parsers for command-line values; each failure is a UsageError naming the option. */
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../util/errors.js';

const SUFFIX: Record<string, number> = { k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9, t: 1e12, T: 1e12 };

/** `400M`, `0.4G`, `4e8`, `12000` -> number. */
export function parseQuantity(text: string, field: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGtT]?)\s*$/.exec(text);
  if (!m) throw new UsageError(`invalid ${field} '${text}': expected a number such as 400M, 0.4G or 4e8`);
  return Number(m[1]) * (m[2] ? SUFFIX[m[2]]! : 1);
}

/** `MIN:MAX` with either side optional (`400M:`, `:1G`). */
export function parseRange(text: string, field: string): [number, number] {
  const parts = text.split(':');
  if (parts.length !== 2) throw new UsageError(`invalid ${field} '${text}': expected MIN:MAX, e.g. 400M:600M`);
  const lo = parts[0]!.trim() === '' ? 0 : parseQuantity(parts[0]!, field);
  const hi = parts[1]!.trim() === '' ? Infinity : parseQuantity(parts[1]!, field);
  if (lo > hi) throw new UsageError(`invalid ${field} '${text}': MIN is larger than MAX`);
  return [lo, hi];
}

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

/** Format a big integer with thousands separators. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 4089185256 -> 4.09G, 25557032 -> 25.56M */
export function fmtSI(n: number, digits = 2): string {
  const a = Math.abs(n);
  if (a >= 1e12) return (n / 1e12).toFixed(digits) + 'T';
  if (a >= 1e9) return (n / 1e9).toFixed(digits) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(digits) + 'M';
  if (a >= 1e3) return (n / 1e3).toFixed(digits) + 'K';
  return String(n);
}
