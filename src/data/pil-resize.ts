/**
 * Resampling that reproduces PIL's `Image.resize` on 8-bit images bit for bit (checked against Pillow by
 * test/data-preprocess.test.ts), written from the algorithm's description:
 *
 *  - bilinear / bicubic: a separable convolution, first along rows, then along columns (the intermediate
 *    image is 8-bit). Output pixel i samples around the source position center = (i + 0.5) * scale with
 *    scale = in / out. When shrinking, the kernel is stretched by the scale factor (antialiasing):
 *    support = kernelSupport * max(scale, 1), and the kernel is evaluated at (x - center) / max(scale, 1).
 *    The source pixels used are [trunc(center - support + 0.5), trunc(center + support + 0.5)) clipped to
 *    the image; their weights are normalised to sum to 1, then turned into fixed point with 22 fraction
 *    bits (rounded half away from zero). Each output value is the integer sum of pixel * weight plus half
 *    a unit, shifted down by 22 bits and clipped to [0, 255].
 *  - nearest: output pixel i takes source pixel floor(p_i), p_0 = scale / 2, p_(i+1) = p_i + scale
 *    (accumulated in double precision; see nearestIndices), without filtering.
 *
 * Kernels: bilinear is the triangle max(0, 1 - |x|) (support 1); bicubic is Keys' cubic convolution with
 * a = -0.5 (support 2), as in PIL.
 */

import { simdResizeRgb } from './pil-resize-simd.js';

export type PilFilter = 'nearest' | 'bilinear' | 'bicubic';

/** An 8-bit image, pixels interleaved row by row (HWC). */
export interface Image8 {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

interface Kernel {
  support: number;
  f: (x: number) => number;
}

const KERNELS: Record<Exclude<PilFilter, 'nearest'>, Kernel> = {
  bilinear: {
    support: 1,
    f: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

/** Per output pixel: first source index, number of taps, and fixed-point weights (`taps` per pixel). */
interface Coefficients {
  first: Int32Array;
  count: Int32Array;
  taps: number;
  weights: Int32Array;
}

/** Fixed-point weights of a 1-D resize from `inSize` to `outSize` samples. */
export function resizeCoefficients(inSize: number, outSize: number, kernel: Kernel): Coefficients {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = kernel.support * stretch;
  const inv = 1 / stretch;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = hi - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const v = kernel.f((k + lo - center + 0.5) * inv);
      w[k] = v;
      sum += v;
    }
    for (let k = 0; k < n; k++) {
      const v = sum !== 0 ? w[k]! / sum : w[k]!;
      weights[i * taps + k] = Math.trunc(v < 0 ? v * ONE - 0.5 : v * ONE + 0.5);
    }
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, taps, weights };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Horizontal pass: rows [r0, r1) of `src`, output columns [x0, x0 + w) of the resized width.
 * The accumulator stays below 2^31 in magnitude (255 x at most ~1.3 x 2^22), so `>>` is exact.
 */
function resizeRows(src: Image8, r0: number, r1: number, x0: number, w: number, c: Coefficients): Image8 {
  const { width: inW, channels: ch, data: s } = src;
  const out = new Uint8Array(w * (r1 - r0) * ch);
  const { first, count, taps, weights } = c;
  let o = 0;
  for (let y = r0; y < r1; y++) {
    const row = y * inW * ch;
    for (let x = x0; x < x0 + w; x++) {
      const n = count[x]!;
      const wb = x * taps;
      let p = row + first[x]! * ch;
      if (ch === 3) {
        let a0 = HALF,
          a1 = HALF,
          a2 = HALF;
        for (let k = 0; k < n; k++, p += 3) {
          const wk = weights[wb + k]!;
          a0 = (a0 + s[p]! * wk) | 0;
          a1 = (a1 + s[p + 1]! * wk) | 0;
          a2 = (a2 + s[p + 2]! * wk) | 0;
        }
        out[o++] = clip8(a0);
        out[o++] = clip8(a1);
        out[o++] = clip8(a2);
      } else {
        for (let q = 0; q < ch; q++) {
          let acc = HALF;
          for (let k = 0; k < n; k++) acc += s[p + k * ch + q]! * weights[wb + k]!;
          out[o++] = clip8(acc);
        }
      }
    }
  }
  return { data: out, width: w, height: r1 - r0, channels: ch };
}

/** Vertical pass: output rows [y0, y0 + h) of the resized height; `src` holds source rows from r0 on. */
function resizeColumns(src: Image8, r0: number, y0: number, h: number, c: Coefficients): Image8 {
  const { width: w, channels: ch, data: s } = src;
  const stride = w * ch;
  const out = new Uint8Array(h * stride);
  const acc = new Int32Array(stride);
  const { first, count, taps, weights } = c;
  for (let y = y0; y < y0 + h; y++) {
    const n = count[y]!;
    const base = (first[y]! - r0) * stride;
    const wb = y * taps;
    acc.fill(HALF);
    for (let k = 0; k < n; k++) {
      const wk = weights[wb + k]!;
      const row = base + k * stride;
      for (let x = 0; x < stride; x++) acc[x] = (acc[x]! + s[row + x]! * wk) | 0;
    }
    const orow = (y - y0) * stride;
    for (let x = 0; x < stride; x++) out[orow + x] = clip8(acc[x]!);
  }
  return { data: out, width: w, height: h, channels: ch };
}

/** Columns [x0, x0 + w) of rows [r0, r1). */
function cropRows(src: Image8, r0: number, r1: number, x0: number, w: number): Image8 {
  const ch = src.channels;
  const out = new Uint8Array(w * (r1 - r0) * ch);
  for (let y = r0; y < r1; y++) out.set(src.data.subarray((y * src.width + x0) * ch, (y * src.width + x0 + w) * ch), (y - r0) * w * ch);
  return { data: out, width: w, height: r1 - r0, channels: ch };
}

/**
 * Source index of each output sample for 'nearest': the position starts at scale / 2 and grows by
 * `scale` per sample, accumulated in double precision (exact ties such as 3.5 * 2/7 then fall on the
 * side PIL's accumulation puts them, which a direct floor((i + 0.5) * scale) would not always match).
 */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const idx = new Int32Array(outSize);
  let pos = scale * 0.5;
  for (let i = 0; i < outSize; i++) {
    idx[i] = Math.min(Math.floor(pos), inSize - 1);
    pos += scale;
  }
  return idx;
}

function resizeNearest(src: Image8, outW: number, outH: number, r: Region): Image8 {
  const { width: inW, height: inH, channels: ch, data: s } = src;
  const sx = nearestIndices(inW, outW);
  const sy = nearestIndices(inH, outH);
  const out = new Uint8Array(r.width * r.height * ch);
  let di = 0;
  for (let y = r.top; y < r.top + r.height; y++) {
    const row = sy[y]! * inW * ch;
    for (let x = r.left; x < r.left + r.width; x++) {
      const si = row + sx[x]! * ch;
      for (let q = 0; q < ch; q++) out[di++] = s[si + q]!;
    }
  }
  return { data: out, width: r.width, height: r.height, channels: ch };
}

/** A rectangle of the resized image. */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * PIL's `img.resize((outW, outH), filter)` of an 8-bit image (any number of channels); with `region`, only
 * that rectangle of the result (the same pixels, computed without the rest: a centre crop costs less).
 * RGB images are resampled with the WebAssembly SIMD passes of pil-resize-simd.ts where available (the
 * same integers as the JavaScript passes, which pilResizeScalar always uses).
 */
export function pilResize(src: Image8, outW: number, outH: number, filter: PilFilter, region?: Region): Image8 {
  return resize(src, outW, outH, filter, region, true);
}

/** pilResize on the JavaScript passes only (the reference the SIMD passes are tested against). */
export function pilResizeScalar(src: Image8, outW: number, outH: number, filter: PilFilter, region?: Region): Image8 {
  return resize(src, outW, outH, filter, region, false);
}

function resize(src: Image8, outW: number, outH: number, filter: PilFilter, region: Region | undefined, simd: boolean): Image8 {
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) {
    throw new RangeError(`resize target ${outW}x${outH} must be positive integers`);
  }
  if (src.data.length !== src.width * src.height * src.channels) {
    throw new RangeError(`image buffer has ${src.data.length} bytes, expected ${src.width}x${src.height}x${src.channels}`);
  }
  const r = region ?? { left: 0, top: 0, width: outW, height: outH };
  const ints = [r.left, r.top, r.width, r.height].every(Number.isInteger);
  if (!ints || r.left < 0 || r.top < 0 || r.width < 1 || r.height < 1 || r.left + r.width > outW || r.top + r.height > outH) {
    throw new RangeError(`region ${r.width}x${r.height}+${r.left}+${r.top} is not inside ${outW}x${outH}`);
  }
  if (filter === 'nearest') return resizeNearest(src, outW, outH, r);
  const kernel = KERNELS[filter];
  // PIL resamples rows first, then columns; the rows the vertical taps of the region read are enough
  const cy = outH !== src.height ? resizeCoefficients(src.height, outH, kernel) : null;
  let r0 = r.top,
    r1 = r.top + r.height;
  if (cy) {
    r0 = cy.first[r.top]!;
    r1 = 0;
    for (let y = r.top; y < r.top + r.height; y++) r1 = Math.max(r1, cy.first[y]! + cy.count[y]!);
  }
  const cx = outW !== src.width ? resizeCoefficients(src.width, outW, kernel) : null;
  if (simd && (cx || cy)) {
    const out = simdResizeRgb(src, cx, cy, r0, r1, r);
    if (out) return out;
  }
  const rows = cx ? resizeRows(src, r0, r1, r.left, r.width, cx) : cropRows(src, r0, r1, r.left, r.width);
  return cy ? resizeColumns(rows, r0, r.top, r.height, cy) : rows;
}
