/** Drawing one value from a parameter distribution, with quantization to a clean decimal. */
import type { Rng } from '../util/rng.js';
import type { Dist } from './space-config.js';
import { roundHalfEven } from './round.js';

/** Round to a multiple of q and strip float noise (26.300000000000001 -> 26.3). */
export function quantize(v: number, q: number): number {
  const k = roundHalfEven(v / q);
  const scale = decimalScale(q);
  // k * (q * scale) is an exact integer; one correctly rounded division gives the double nearest
  // to the decimal value, the same as parsing its printed form.
  return (k * Math.round(q * scale)) / scale;
}

const scales = new Map<number, number>();
function decimalScale(q: number): number {
  let s = scales.get(q);
  if (s === undefined) {
    const str = String(q);
    const dec = str.includes('e-') ? Number(str.split('e-')[1]) : str.includes('.') ? str.length - str.indexOf('.') - 1 : 0;
    s = 10 ** dec;
    scales.set(q, s);
  }
  return s;
}

export function drawValue(d: Dist, rng: Rng): number {
  switch (d.dist) {
    case 'fixed':
      return d.value;
    case 'choice':
      return d.values[Math.floor(rng.next() * d.values.length)]!;
    case 'uniform': {
      const v = rng.uniform(d.min, d.max);
      return d.quantize ? clampQ(quantize(v, d.quantize), d.min, d.max, d.quantize) : v;
    }
    case 'uniform_int':
      return rng.int(d.min, d.max);
    case 'log_uniform': {
      const v = Math.exp(rng.uniform(Math.log(d.min), Math.log(d.max)));
      return d.quantize ? clampQ(quantize(v, d.quantize), d.min, d.max, d.quantize) : v;
    }
    case 'pow2': {
      const lo = Math.ceil(Math.log2(d.min));
      const hi = Math.floor(Math.log2(d.max));
      return 2 ** rng.int(lo, hi);
    }
    case 'pow2_or_log_uniform': {
      const v = Math.exp(rng.uniform(Math.log(d.min), Math.log(d.max)));
      if (v < d.quantize) return Math.min(2 ** roundHalfEven(Math.log2(v)), d.quantize);
      return clampQ(quantize(v, d.quantize), d.min, d.max, d.quantize);
    }
  }
}

/** Keep a quantized value inside the closed range (rounding can step just outside it). */
function clampQ(v: number, min: number, max: number, q: number): number {
  if (v < min) return quantize(v + q, q);
  if (v > max) return quantize(v - q, q);
  return v;
}
