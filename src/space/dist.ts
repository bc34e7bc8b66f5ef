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
  return compileDist(d)(rng);
}

/**
 * A drawing function for one distribution, with its constants (logs of the range, decimal scale)
 * worked out once: the sampler calls these millions of times.
 */
export function compileDist(d: Dist): (rng: Rng) => number {
  switch (d.dist) {
    case 'fixed': {
      const v = d.value;
      return () => v;
    }
    case 'choice': {
      const vs = d.values;
      return (rng) => vs[Math.floor(rng.next() * vs.length)]!;
    }
    case 'uniform': {
      const { min, max, quantize: q } = d;
      return q ? (rng) => clampQ(quantize(rng.uniform(min, max), q), min, max, q) : (rng) => rng.uniform(min, max);
    }
    case 'uniform_int': {
      const { min, max } = d;
      return (rng) => rng.int(min, max);
    }
    case 'log_uniform': {
      const { min, max, quantize: q } = d;
      const lo = Math.log(min);
      const hi = Math.log(max);
      return q ? (rng) => clampQ(quantize(Math.exp(rng.uniform(lo, hi)), q), min, max, q) : (rng) => Math.exp(rng.uniform(lo, hi));
    }
    case 'pow2': {
      const lo = Math.ceil(Math.log2(d.min));
      const hi = Math.floor(Math.log2(d.max));
      return (rng) => 2 ** rng.int(lo, hi);
    }
    case 'pow2_or_log_uniform': {
      const { min, max, quantize: q } = d;
      const lo = Math.log(min);
      const hi = Math.log(max);
      return (rng) => {
        const v = Math.exp(rng.uniform(lo, hi));
        if (v < q) return Math.min(2 ** roundHalfEven(Math.log2(v)), q);
        return clampQ(quantize(v, q), min, max, q);
      };
    }
  }
}

/** Keep a quantized value inside the closed range (rounding can step just outside it). */
function clampQ(v: number, min: number, max: number, q: number): number {
  if (v < min) return quantize(v + q, q);
  if (v > max) return quantize(v - q, q);
  return v;
}
