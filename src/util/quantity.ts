/** Quantities with SI suffixes (`400M`, `0.4G`, `4e8`) and MIN:MAX ranges of them; failures are UsageErrors naming the field. */
import { UsageError } from './errors.js';

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
