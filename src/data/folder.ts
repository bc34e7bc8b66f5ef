/**
 * Image folders in the ImageNet / Imagenette layout: one sub-folder per class, class index = position
 * of the folder name in sorted (code-point) order, as torchvision's ImageFolder does, or its index in a
 * label set (labels.ts: ImageNet's 1000 wnids, a class map). JPEG and PNG are
 * decoded as PIL decodes them (pil-decode.ts: sharp for the codec, PIL's conversions to RGB) and resized
 * with PIL's resampling (pil-resize.ts), so the crops equal those of PIL + torchvision bit for bit. Two uses:
 *  - loading a whole split as bytes at a fixed size (training and small evals),
 *  - timm-style eval preprocessing: resize the shorter side to floor(img_size / crop_pct), centre-crop
 *    img_size, then normalise to float CHW (per image here; streamed in parallel by loader.ts).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import { UsageError } from '../util/errors.js';
import { decodeRgbLikePil } from './pil-decode.js';
import { pilResize, type Image8 } from './pil-resize.js';
import type { LabelSet } from './labels.js';
import type { Split } from './types.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);

export type Interpolation = 'bicubic' | 'bilinear' | 'nearest';

export interface FolderListing {
  dir: string;
  /** the class folders present, sorted */
  classes: string[];
  files: string[];
  labels: Int32Array;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function walkImages(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => byCodePoint(a.name, b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walkImages(p, out);
    else if (IMAGE_EXT.has(extname(e.name).toLowerCase())) out.push(p);
  }
}

/** Images named on a command line: files as given, folders walked for .jpg/.jpeg/.png (sorted, recursive). */
export function expandImagePaths(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const before = out.length;
      walkImages(p, out);
      if (out.length === before) throw new UsageError(`${p}: no .jpg/.jpeg/.png images in this folder`);
    } else out.push(p);
  }
  return out;
}

/** The class sub-folders of a split folder, sorted (refused when there are none). */
export function classFolders(dir: string): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`${dir}: image folder does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`${dir}: not a folder (expected one sub-folder per class)`);
  const classes = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byCodePoint);
  if (classes.length === 0) throw new UsageError(`${dir}: no class sub-folders`);
  return classes;
}

/**
 * Class folders and their image files (sorted, so the listing is deterministic). Labels are the sorted
 * position of the folder (torchvision's ImageFolder), or with `labels` the folder's index in that label
 * set (labels.ts: ImageNet's 1000 wnids, a class map); a folder outside the set is refused.
 */
export function listImageFolder(dir: string, labels?: LabelSet): FolderListing {
  const classes = classFolders(dir);
  const files: string[] = [];
  const out: number[] = [];
  classes.forEach((c, i) => {
    const label = labels ? labels.index.get(c) : i;
    if (label === undefined) {
      throw new UsageError(
        `${join(dir, c)}: class folder '${c}' is not one of ${labels!.source}${labels!.hint ? `; ${labels!.hint}` : ''}`,
      );
    }
    const before = files.length;
    walkImages(join(dir, c), files);
    for (let k = before; k < files.length; k++) out.push(label);
  });
  if (files.length === 0) throw new UsageError(`${dir}: no .jpg/.jpeg/.png images in its ${classes.length} class folders`);
  return { dir, classes, files, labels: Int32Array.from(out) };
}

/** Python's round() (half to even), which torchvision's CenterCrop uses for the crop offset. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface CropGeometry {
  /** size the whole image is resized to */
  resizeW: number;
  resizeH: number;
  /** top-left of the crop in the resized image; negative when the crop is larger (zero padding) */
  left: number;
  top: number;
  size: number;
}

/**
 * timm eval geometry: scale = floor(imgSize / cropPct); shorter side -> scale, longer side ->
 * int(scale * long / short) (torchvision Resize); then CenterCrop(imgSize) with
 * top = round((h - size) / 2), or zero padding of floor((size - h) / 2) when the image is smaller.
 */
export function evalGeometry(width: number, height: number, imgSize: number, cropPct: number): CropGeometry {
  if (!(cropPct > 0 && cropPct <= 4)) throw new UsageError(`crop_pct ${cropPct} must be in (0, 4]`);
  const scale = Math.floor(imgSize / cropPct);
  let resizeW: number, resizeH: number;
  if (width <= height) {
    resizeW = scale;
    resizeH = Math.floor((scale * height) / width);
  } else {
    resizeH = scale;
    resizeW = Math.floor((scale * width) / height);
  }
  const off = (len: number) => (len >= imgSize ? roundHalfEven((len - imgSize) / 2) : -Math.floor((imgSize - len) / 2));
  return { resizeW, resizeH, left: off(resizeW), top: off(resizeH), size: imgSize };
}

export interface DecodeOptions {
  imgSize: number;
  /** 1 = resize the shorter side to imgSize and centre crop (training-style 'cover') */
  cropPct: number;
  interpolation: Interpolation;
  /** 'fill' squashes to imgSize x imgSize ignoring aspect ratio; 'crop' uses evalGeometry */
  fit?: 'crop' | 'fill';
}

/**
 * Decode, resize and crop one image to CHW RGB bytes (imgSize x imgSize): PIL's
 * `Image.open(f).convert('RGB')`, then torchvision's Resize (PIL resampling) and CenterCrop.
 */
export async function decodeImage(input: string | Buffer, opts: DecodeOptions): Promise<Uint8Array> {
  const label = typeof input === 'string' ? input : '<buffer>';
  const s = opts.imgSize;
  let img: Image8;
  try {
    img = await decodeRgbLikePil(input);
  } catch (e) {
    if (e instanceof UsageError) throw e; // sharp itself missing: not this image's fault
    throw new UsageError(`${label}: cannot decode image (${(e as Error).message.split('\n')[0]})`);
  }
  // EXIF orientation is ignored (as PIL does in timm's loader), so width/height are the stored ones.
  const geo: CropGeometry =
    opts.fit === 'fill' ? { resizeW: s, resizeH: s, left: 0, top: 0, size: s } : evalGeometry(img.width, img.height, s, opts.cropPct);
  // resample only the part of the resized image that the crop keeps (the same pixels, less work)
  const x0 = Math.max(geo.left, 0),
    y0 = Math.max(geo.top, 0);
  const w = Math.min(geo.left + s, geo.resizeW) - x0,
    h = Math.min(geo.top + s, geo.resizeH) - y0;
  const kept = pilResize(img, geo.resizeW, geo.resizeH, opts.interpolation, { left: x0, top: y0, width: w, height: h });
  return cropToChw(kept.data, { resizeW: w, resizeH: h, left: geo.left - x0, top: geo.top - y0, size: s });
}

/** HWC RGB bytes of the resized image -> CHW crop, zero outside the image (torchvision pads with 0). */
export function cropToChw(hwc: Uint8Array, g: CropGeometry): Uint8Array {
  const s = g.size;
  const plane = s * s;
  const out = new Uint8Array(3 * plane);
  for (let y = 0; y < s; y++) {
    const sy = y + g.top;
    if (sy < 0 || sy >= g.resizeH) continue;
    for (let x = 0; x < s; x++) {
      const sx = x + g.left;
      if (sx < 0 || sx >= g.resizeW) continue;
      const si = (sy * g.resizeW + sx) * 3;
      const di = y * s + x;
      out[di] = hwc[si]!;
      out[plane + di] = hwc[si + 1]!;
      out[2 * plane + di] = hwc[si + 2]!;
    }
  }
  return out;
}

export interface EvalPreprocessOptions {
  imgSize: number;
  /** timm default 0.875 */
  cropPct?: number;
  interpolation?: Interpolation;
  mean?: number[];
  std?: number[];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** timm-style eval transform of one image to normalised float CHW (3 x imgSize x imgSize). */
export async function evalPreprocess(input: string | Buffer, opts: EvalPreprocessOptions): Promise<Float32Array> {
  const bytes = await decodeImage(input, {
    imgSize: opts.imgSize,
    cropPct: opts.cropPct ?? 0.875,
    interpolation: opts.interpolation ?? 'bicubic',
  });
  return normaliseChw(bytes, 3, opts.mean ?? IMAGENET_MEAN, opts.std ?? IMAGENET_STD);
}

/** (byte / 255 - mean[c]) / std[c] in float32 steps, as ToTensor + Normalize compute it. */
export function normaliseChw(
  bytes: Uint8Array,
  channels: number,
  mean: number[],
  std: number[],
  out?: Float32Array,
  outOffset = 0,
): Float32Array {
  const plane = bytes.length / channels;
  const dst = out ?? new Float32Array(bytes.length);
  const f = Math.fround;
  const lut = new Float32Array(256);
  for (let c = 0; c < channels; c++) {
    // a byte has 256 values: compute each once, then look them up
    const m = f(mean[c]!),
      sd = f(std[c]!);
    for (let b = 0; b < 256; b++) lut[b] = f(f(b / 255) - m) / sd;
    const src = bytes.subarray(c * plane, (c + 1) * plane);
    const base = outOffset + c * plane;
    for (let i = 0; i < plane; i++) dst[base + i] = lut[src[i]!]!;
  }
  return dst;
}

/** Run `fn` over items with at most `limit` in flight (sharp does the work on libuv threads). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

export interface LoadFolderOptions {
  imgSize: number;
  /** 1 (default) = shorter side to imgSize + centre crop; <1 = timm eval geometry */
  cropPct?: number;
  fit?: 'crop' | 'fill';
  interpolation?: Interpolation;
  /** required class list (e.g. the train split's), so val labels use the same indices */
  classes?: string[];
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Decode a whole class-folder split into bytes (n x 3 x imgSize x imgSize). */
export async function loadImageFolder(dir: string, opts: LoadFolderOptions): Promise<{ split: Split; classes: string[] }> {
  const list = listImageFolder(dir);
  if (opts.classes && list.classes.join('\n') !== opts.classes.join('\n')) {
    throw new UsageError(`${dir}: class folders (${list.classes.length}) differ from the training split's (${opts.classes.length})`);
  }
  const per = 3 * opts.imgSize * opts.imgSize;
  const images = new Uint8Array(list.files.length * per);
  let done = 0;
  await mapLimit(list.files, opts.concurrency ?? 8, async (f, i) => {
    const b = await decodeImage(f, {
      imgSize: opts.imgSize,
      cropPct: opts.cropPct ?? 1,
      interpolation: opts.interpolation ?? 'bilinear',
      fit: opts.fit,
    });
    images.set(b, i * per);
    opts.onProgress?.(++done, list.files.length);
  });
  return { split: { images, labels: list.labels, n: list.files.length }, classes: list.classes };
}
