/**
 * RandAugment as timm applies it (`--aa rand-m9-mstd0.5`), on 8-bit planar images (CHW bytes).
 *
 * The config string: `rand` then dash-separated sections, each a key and a number: `m` magnitude
 * (integer, default 10), `n` ops per image (integer, default 2), `p` probability of each op (default 0.5),
 * `mstd` std of the Gaussian noise on the magnitude (> 100: uniform in [0, m]), `mmax` upper clip of the
 * magnitude (integer, default 10; timm reads 0 as the default), `inc1` the "increasing" op set.
 *
 * Per image: n ops are drawn with replacement from the 15 ops of timm's RandAugment; each runs with
 * probability p, at magnitude m (plus noise, clipped to [0, mmax]), mapped to its argument as timm's
 * level functions do (with a random sign for rotate, shear, translate and the increasing enhancements).
 * The pixel operations reproduce Pillow's (ImageOps, ImageEnhance, Image.transform with bilinear
 * resampling and a fill colour) bit for bit, including Pillow's float32 arithmetic in blends and in the
 * smoothing filter of Sharpness. The draws come from one seeded Rng per sample.
 */
import { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';

/** A planar 8-bit image: channel planes back to back (R, G, B or one grey plane), rows top to bottom. */
export interface Planar8 {
  data: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

export interface RandAugmentConfig {
  magnitude: number;
  numLayers: number;
  prob: number;
  /** 0: no noise; Infinity: uniform in [0, magnitude] (timm's mstd > 100) */
  magnitudeStd: number;
  /** the mstd as read (for the canonical name: values above 100 all mean uniform, but are kept as given) */
  mstdText?: string;
  /** upper clip of the magnitude (timm's mmax; 0 or absent = 10) */
  magnitudeMax: number;
  increasing: boolean;
}

/** timm's _LEVEL_DENOM: magnitude 10 is the full range of every op. */
const LEVEL_DENOM = 10;

export const RAND_OPS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'SolarizeAdd',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

export const RAND_INCREASING_OPS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

export type RandOp = (typeof RAND_OPS)[number] | (typeof RAND_INCREASING_OPS)[number];

export const AA_FORM =
  "rand-m<int>[-n<int>][-p<0..1>][-mstd<x>][-mmax<int>][-inc1], e.g. rand-m9-mstd0.5 (timm's RandAugment string), or none";

const LIMITS = { magnitude: 100, numLayers: 16 };

/**
 * Parse timm's RandAugment string. Sections are read as timm reads them (key = the letters before the
 * first digit), but what timm silently ignores or misreads is an error here: unknown or repeated
 * sections, a non-integer m/n/mmax, `inc0` (timm turns the increasing set on for any inc value).
 */
export function parseRandAugment(text: string, field = '--aa'): RandAugmentConfig {
  const bad = (why: string) => new UsageError(`${field}: '${text}': ${why} (allowed: ${AA_FORM})`);
  const parts = text.split('-');
  if (parts[0] !== 'rand') throw bad("must start with 'rand' (RandAugment is the only policy)");
  const cfg: RandAugmentConfig = { magnitude: 10, numLayers: 2, prob: 0.5, magnitudeStd: 0, magnitudeMax: 0, increasing: false };
  const seen = new Set<string>();
  for (const section of parts.slice(1)) {
    const m = /^([a-z]*)(\d.*)$/.exec(section);
    if (!m) throw bad(`section '${section}' is not a key followed by a number`);
    const [, key, val] = m as unknown as [string, string, string];
    if (seen.has(key)) throw bad(`'${key}' is given twice`);
    seen.add(key);
    const int = (max: number) => {
      if (!/^\d+$/.test(val)) throw bad(`${key} must be an integer`);
      const v = Number(val);
      if (v > max) throw bad(`${key} must be at most ${max}`);
      return v;
    };
    const num = () => {
      if (!/^\d+(\.\d*)?([eE]\d+)?$/.test(val)) throw bad(`${key} must be a number`);
      return Number(val);
    };
    switch (key) {
      case 'm':
        cfg.magnitude = int(LIMITS.magnitude);
        break;
      case 'n':
        cfg.numLayers = int(LIMITS.numLayers);
        break;
      case 'p': {
        const p = num();
        if (p > 1) throw bad('p must be in [0, 1]');
        cfg.prob = p;
        break;
      }
      case 'mstd': {
        const s = num();
        cfg.magnitudeStd = s > 100 ? Infinity : s;
        cfg.mstdText = String(s);
        break;
      }
      case 'mmax':
        cfg.magnitudeMax = int(LIMITS.magnitude);
        break;
      case 'inc':
        if (val !== '1') throw bad("inc takes 1 (timm turns the increasing set on for any value, inc0 included; leave 'inc' out instead)");
        cfg.increasing = true;
        break;
      default:
        throw bad(`unknown section '${section}'`);
    }
  }
  return cfg;
}

/** The canonical string of a config (fixed order, defaults left out but m): the name runs are recorded under. */
export function randAugmentName(c: RandAugmentConfig): string {
  const s = [`rand-m${c.magnitude}`];
  if (c.numLayers !== 2) s.push(`n${c.numLayers}`);
  if (c.prob !== 0.5) s.push(`p${c.prob}`);
  if (c.magnitudeStd !== 0) s.push(`mstd${c.mstdText ?? String(c.magnitudeStd)}`);
  if (c.magnitudeMax !== 0) s.push(`mmax${c.magnitudeMax}`);
  if (c.increasing) s.push('inc1');
  return s.join('-');
}

/** A user's --aa / recipe `aa`: undefined for 'none', else the canonical string (checked). */
export function canonicalAa(text: string | undefined, field = '--aa'): string | undefined {
  if (text === undefined || text === 'none') return undefined;
  return randAugmentName(parseRandAugment(text, field));
}

/** timm's fill colour of the geometric ops: img_mean = min(255, round(255 * mean)) per channel (Python round). */
export function fillFromMean(mean: number[], channels: number): number[] {
  return Array.from({ length: channels }, (_, c) => {
    const v = 255 * mean[c < mean.length ? c : 0]!;
    const f = Math.floor(v);
    const d = v - f;
    const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
    return Math.min(255, r);
  });
}

// ----------------------------------------------------------------------------------------------------
// Pixel operations (Pillow 9's arithmetic)

function blank(img: Planar8): Planar8 {
  return { data: new Uint8Array(img.data.length), channels: img.channels, height: img.height, width: img.width };
}

function copy(img: Planar8): Planar8 {
  return { ...img, data: img.data.slice() };
}

/** Image.point with one 256-entry table per channel. */
function lut(img: Planar8, tables: Uint8Array[]): Planar8 {
  const out = blank(img);
  const plane = img.height * img.width;
  const src = img.data,
    o = out.data;
  for (let c = 0; c < img.channels; c++) {
    const t = tables[c]!;
    for (let i = c * plane, e = i + plane; i < e; i++) o[i] = t[src[i]!]!;
  }
  return out;
}

function sameLut(img: Planar8, f: (v: number) => number): Planar8 {
  const t = Uint8Array.from({ length: 256 }, (_, v) => f(v));
  return lut(
    img,
    Array.from({ length: img.channels }, () => t),
  );
}

function histogram(img: Planar8, c: number): Int32Array {
  const h = new Int32Array(256);
  const plane = img.height * img.width;
  const src = img.data;
  for (let i = c * plane, e = i + plane; i < e; i++) h[src[i]!]!++;
  return h;
}

const identityTable = () => Uint8Array.from({ length: 256 }, (_, i) => i);

/** ImageOps.autocontrast(img) (cutoff 0): each channel's [lo, hi] stretched to [0, 255]. */
export function autoContrast(img: Planar8): Planar8 {
  const tables: Uint8Array[] = [];
  for (let c = 0; c < img.channels; c++) {
    const h = histogram(img, c);
    let lo = 0,
      hi = 255;
    while (lo < 255 && !h[lo]) lo++;
    while (hi > 0 && !h[hi]) hi--;
    if (hi <= lo) {
      tables.push(identityTable());
      continue;
    }
    const scale = 255.0 / (hi - lo);
    const offset = -lo * scale;
    tables.push(Uint8Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset)))));
  }
  return lut(img, tables);
}

/** ImageOps.equalize(img): per channel, Pillow's cumulative-histogram table. */
export function equalize(img: Planar8): Planar8 {
  const tables: Uint8Array[] = [];
  for (let c = 0; c < img.channels; c++) {
    const h = histogram(img, c);
    const used = Array.from(h).filter((v) => v > 0);
    const step = used.length <= 1 ? 0 : Math.floor((used.reduce((a, b) => a + b, 0) - used[used.length - 1]!) / 255);
    if (!step) {
      tables.push(identityTable());
      continue;
    }
    const t = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      t[i] = Math.min(255, Math.floor(n / step));
      n += h[i]!;
    }
    tables.push(t);
  }
  return lut(img, tables);
}

export const invert = (img: Planar8) => sameLut(img, (v) => 255 - v);

/** ImageOps.posterize: keep the top `bits` bits (timm leaves the image as it is for 8 bits or more). */
export function posterize(img: Planar8, bits: number): Planar8 {
  if (bits >= 8) return copy(img);
  const mask = ~(2 ** (8 - bits) - 1) & 0xff;
  return sameLut(img, (v) => v & mask);
}

/** ImageOps.solarize: values at or above `thresh` inverted. */
export const solarize = (img: Planar8, thresh: number) => sameLut(img, (v) => (v < thresh ? v : 255 - v));

/** timm's solarize_add: `add` added (saturating) to values below `thresh`. */
export const solarizeAdd = (img: Planar8, add: number, thresh = 128) => sameLut(img, (v) => (v < thresh ? Math.min(255, v + add) : v));

const f32 = Math.fround;

/**
 * Image.blend(degenerate, img, factor) as Pillow computes it: alpha is a C float, and
 * out = (UINT8) clip(in1 + alpha * (in2 - in1)) in float32.
 */
function blend(degenerate: Uint8Array, img: Planar8, factor: number): Planar8 {
  const alpha = f32(factor);
  if (alpha === 0) return { ...img, data: degenerate.slice() };
  if (alpha === 1) return copy(img);
  // the result depends on the (degenerate, image) byte pair only: one table of the 65536 pairs
  const table = new Uint8Array(65536);
  for (let d = 0; d < 256; d++)
    for (let v = 0; v < 256; v++) {
      const t = f32(d + f32(alpha * (v - d)));
      table[(d << 8) | v] = t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
    }
  const out = blank(img);
  const a = img.data,
    dg = degenerate,
    o = out.data;
  for (let i = 0; i < a.length; i++) o[i] = table[(dg[i]! << 8) | a[i]!]!;
  return out;
}

/** Pillow's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16; a grey image is its own L. */
function greyPlane(img: Planar8): Uint8Array {
  const plane = img.height * img.width;
  if (img.channels === 1) return img.data.subarray(0, plane);
  const g = new Uint8Array(plane);
  const d = img.data;
  for (let i = 0; i < plane; i++) g[i] = (d[i]! * 19595 + d[plane + i]! * 38470 + d[2 * plane + i]! * 7471 + 0x8000) >>> 16;
  return g;
}

/** ImageEnhance.Color: blend with the grey image (convert('L') then back to the image's mode). */
export function color(img: Planar8, factor: number): Planar8 {
  const g = greyPlane(img);
  const deg = new Uint8Array(img.data.length);
  for (let c = 0; c < img.channels; c++) deg.set(g, c * g.length);
  return blend(deg, img, factor);
}

/** ImageEnhance.Contrast: blend with a flat image at the rounded mean of the grey image. */
export function contrast(img: Planar8, factor: number): Planar8 {
  const g = greyPlane(img);
  let sum = 0;
  for (let i = 0; i < g.length; i++) sum += g[i]!;
  const mean = Math.trunc(sum / g.length + 0.5);
  return blend(new Uint8Array(img.data.length).fill(mean), img, factor);
}

/** ImageEnhance.Brightness: blend with black. */
export const brightness = (img: Planar8, factor: number) => blend(new Uint8Array(img.data.length), img, factor);

/**
 * ImageFilter.SMOOTH (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1, divisor 13) as Pillow's ImagingFilter3x3 runs
 * it: float32 weights (kernel / divisor), rows summed bottom row first, +0.5 and truncation; the border
 * pixels are copied; images under 3x3 are copied whole.
 */
export function smooth(img: Planar8): Uint8Array {
  const { width: W, height: H } = img;
  const out = img.data.slice();
  if (W < 3 || H < 3) return out;
  const k1 = f32(1 / 13),
    k5 = f32(5 / 13);
  const off = f32(0 + 0.5);
  const src = img.data;
  // float32 products of every byte with both weights
  const p1 = new Float64Array(256),
    p5 = new Float64Array(256);
  for (let v = 0; v < 256; v++) {
    p1[v] = f32(v * k1);
    p5[v] = f32(v * k5);
  }
  for (let c = 0; c < img.channels; c++) {
    const base = c * W * H;
    for (let y = 1; y < H - 1; y++) {
      for (let x = 1; x < W - 1; x++) {
        const i = base + y * W + x;
        const below = f32(f32(p1[src[i + W - 1]!]! + p1[src[i + W]!]!) + p1[src[i + W + 1]!]!);
        const here = f32(f32(p1[src[i - 1]!]! + p5[src[i]!]!) + p1[src[i + 1]!]!);
        const above = f32(f32(p1[src[i - W - 1]!]! + p1[src[i - W]!]!) + p1[src[i - W + 1]!]!);
        const ss = f32(f32(f32(off + below) + here) + above);
        out[i] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss);
      }
    }
  }
  return out;
}

/** ImageEnhance.Sharpness: blend with the SMOOTH-filtered image. */
export const sharpness = (img: Planar8, factor: number) => blend(smooth(img), img, factor);

/**
 * Image.transform(size, AFFINE, (a, b, c, d, e, f), BILINEAR, fillcolor=fill): output pixel (x, y) samples
 * the input at (a*(x+.5) + b*(y+.5) + c, d*(x+.5) + e*(y+.5) + f) with Pillow's bilinear filter (edge
 * clamping inside the image, truncation to 8 bits); points outside the image keep the fill colour.
 */
export function affine(img: Planar8, m: readonly number[], fill: readonly number[]): Planar8 {
  const { width: W, height: H, channels: C } = img;
  const [a0, a1, a2, a3, a4, a5] = m as [number, number, number, number, number, number];
  const out = blank(img);
  const plane = W * H;
  const src = img.data,
    o = out.data;
  for (let y = 0; y < H; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < W; x++) {
      const xc = x + 0.5;
      let xin = a0 * xc + a1 * yc + a2;
      let yin = a3 * xc + a4 * yc + a5;
      const p = y * W + x;
      if (xin < 0 || xin >= W || yin < 0 || yin >= H) {
        for (let c = 0; c < C; c++) o[c * plane + p] = fill[c]!;
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const xf = Math.floor(xin),
        yf = Math.floor(yin);
      const dx = xin - xf,
        dy = yin - yf;
      if (xf >= 0 && yf >= 0 && xf + 1 < W && yf + 1 < H) {
        // inside: the four neighbours exist (the same arithmetic as the clamped path below)
        let s = yf * W + xf;
        for (let c = 0; c < C; c++, s += plane) {
          const p0 = src[s]!,
            p1 = src[s + 1]!,
            q0 = src[s + W]!,
            q1 = src[s + W + 1]!;
          const v1 = p0 + (p1 - p0) * dx;
          const v2 = q0 + (q1 - q0) * dx;
          o[c * plane + p] = v1 + (v2 - v1) * dy;
        }
        continue;
      }
      const r0 = (yf < 0 ? 0 : yf < H ? yf : H - 1) * W;
      const x0 = xf < 0 ? 0 : xf < W ? xf : W - 1;
      const x1 = xf + 1 < 0 ? 0 : xf + 1 < W ? xf + 1 : W - 1;
      const next = yf + 1 >= 0 && yf + 1 < H;
      const r1 = (yf + 1) * W;
      for (let c = 0; c < C; c++) {
        const b = c * plane;
        const p0 = src[b + r0 + x0]!,
          p1 = src[b + r0 + x1]!;
        const v1 = p0 + (p1 - p0) * dx;
        let v2 = v1;
        if (next) {
          const q0 = src[b + r1 + x0]!,
            q1 = src[b + r1 + x1]!;
          v2 = q0 + (q1 - q0) * dx;
        }
        o[b + p] = Math.trunc(v1 + (v2 - v1) * dy);
      }
    }
  }
  return out;
}

/** Python's round(x, 15) (correctly rounded decimal, as Image.rotate rounds its matrix). */
const round15 = (x: number) => Number(x.toFixed(15));

/** Image.transpose(ROTATE_90 / ROTATE_180 / ROTATE_270) for the angles Image.rotate takes that path. */
function rotateQuarter(img: Planar8, quarter: 1 | 2 | 3): Planar8 {
  const { width: W, height: H } = img;
  const out = blank(img);
  const plane = W * H;
  for (let c = 0; c < img.channels; c++) {
    const b = c * plane;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        // source pixel of output (x, y); for quarter turns W === H
        const [sx, sy] = quarter === 2 ? [W - 1 - x, H - 1 - y] : quarter === 1 ? [W - 1 - y, x] : [y, H - 1 - x];
        out.data[b + y * W + x] = img.data[b + sy * W + sx]!;
      }
  }
  return out;
}

/** Image.rotate(degrees, BILINEAR, fillcolor=fill) about the centre, same size (counter-clockwise). */
export function rotate(img: Planar8, degrees: number, fill: readonly number[]): Planar8 {
  let angle = degrees % 360;
  if (angle < 0) angle += 360;
  if (angle === 0) return copy(img);
  if (angle === 180) return rotateQuarter(img, 2);
  if ((angle === 90 || angle === 270) && img.width === img.height) return rotateQuarter(img, angle === 90 ? 1 : 3);
  const cx = img.width / 2,
    cy = img.height / 2;
  const rad = -(angle * (Math.PI / 180));
  const m = [round15(Math.cos(rad)), round15(Math.sin(rad)), 0.0, round15(-Math.sin(rad)), round15(Math.cos(rad)), 0.0];
  m[2] = m[0]! * (-cx - 0) + m[1]! * (-cy - 0) + m[2]!;
  m[5] = m[3]! * (-cx - 0) + m[4]! * (-cy - 0) + m[5]!;
  m[2] += cx;
  m[5] += cy;
  return affine(img, m, fill);
}

export const shearX = (img: Planar8, f: number, fill: readonly number[]) => affine(img, [1, f, 0, 0, 1, 0], fill);
export const shearY = (img: Planar8, f: number, fill: readonly number[]) => affine(img, [1, 0, 0, f, 1, 0], fill);
/** timm's translate_x_rel: a shift by pct of the width (positive moves the content left). */
export const translateXRel = (img: Planar8, pct: number, fill: readonly number[]) => affine(img, [1, 0, pct * img.width, 0, 1, 0], fill);
export const translateYRel = (img: Planar8, pct: number, fill: readonly number[]) => affine(img, [1, 0, 0, 0, 1, pct * img.height], fill);

// ----------------------------------------------------------------------------------------------------
// Levels (timm's magnitude -> argument functions) and the policy

/** timm's _randomly_negate: the value negated when a uniform draw exceeds 0.5. */
const negate = (v: number, rng: Rng) => (rng.next() > 0.5 ? -v : v);

/** The argument op `op` gets at magnitude `m` (already noised and clipped). */
export function levelArg(op: RandOp, m: number, rng: Rng): number {
  const l = m / LEVEL_DENOM;
  switch (op) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return 0;
    case 'Rotate':
      return negate(l * 30, rng);
    case 'Posterize':
      return Math.trunc(l * 4);
    case 'PosterizeIncreasing':
      return 4 - Math.trunc(l * 4);
    case 'Solarize':
      return Math.min(256, Math.trunc(l * 256));
    case 'SolarizeIncreasing':
      return 256 - Math.min(256, Math.trunc(l * 256));
    case 'SolarizeAdd':
      return Math.min(128, Math.trunc(l * 110));
    case 'Color':
    case 'Contrast':
    case 'Brightness':
    case 'Sharpness':
      return l * 1.8 + 0.1;
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing':
      return Math.max(0.1, 1.0 + negate(l * 0.9, rng));
    case 'ShearX':
    case 'ShearY':
      return negate(l * 0.3, rng);
    case 'TranslateXRel':
    case 'TranslateYRel':
      return negate(l * 0.45, rng);
  }
}

/** Apply one op with its argument. */
export function applyOp(img: Planar8, op: RandOp, arg: number, fill: readonly number[]): Planar8 {
  switch (op) {
    case 'AutoContrast':
      return autoContrast(img);
    case 'Equalize':
      return equalize(img);
    case 'Invert':
      return invert(img);
    case 'Rotate':
      return rotate(img, arg, fill);
    case 'Posterize':
    case 'PosterizeIncreasing':
      return posterize(img, arg);
    case 'Solarize':
    case 'SolarizeIncreasing':
      return solarize(img, arg);
    case 'SolarizeAdd':
      return solarizeAdd(img, arg);
    case 'Color':
    case 'ColorIncreasing':
      return color(img, arg);
    case 'Contrast':
    case 'ContrastIncreasing':
      return contrast(img, arg);
    case 'Brightness':
    case 'BrightnessIncreasing':
      return brightness(img, arg);
    case 'Sharpness':
    case 'SharpnessIncreasing':
      return sharpness(img, arg);
    case 'ShearX':
      return shearX(img, arg, fill);
    case 'ShearY':
      return shearY(img, arg, fill);
    case 'TranslateXRel':
      return translateXRel(img, arg, fill);
    case 'TranslateYRel':
      return translateYRel(img, arg, fill);
  }
}

export interface AppliedOp {
  op: RandOp;
  arg: number;
}

/**
 * The random part of RandAugment for one image: n ops drawn with replacement, then per op the
 * probability draw, the magnitude noise and the sign. Returns the ops that run, with their arguments.
 */
export function drawOps(cfg: RandAugmentConfig, rng: Rng): AppliedOp[] {
  const ops = cfg.increasing ? RAND_INCREASING_OPS : RAND_OPS;
  const picked = Array.from({ length: cfg.numLayers }, () => ops[rng.int(0, ops.length - 1)]!);
  const out: AppliedOp[] = [];
  const upper = cfg.magnitudeMax || LEVEL_DENOM;
  for (const op of picked) {
    if (cfg.prob < 1 && rng.next() > cfg.prob) continue;
    let m = cfg.magnitude;
    if (cfg.magnitudeStd === Infinity) m = rng.uniform(0, m);
    else if (cfg.magnitudeStd > 0) m = m + cfg.magnitudeStd * rng.normal();
    m = Math.max(0, Math.min(m, upper));
    out.push({ op, arg: levelArg(op, m, rng) });
  }
  return out;
}

/** RandAugment of one image with its own seed (the same whichever worker runs it). */
export function randAugment(img: Planar8, cfg: RandAugmentConfig, sampleSeed: number, fill: readonly number[]): Planar8 {
  const rng = Rng.derive(sampleSeed, 'randaugment');
  let out = img;
  for (const { op, arg } of drawOps(cfg, rng)) out = applyOp(out, op, arg, fill);
  return out;
}
