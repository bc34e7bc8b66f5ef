/**
 * The per-image transforms of the image-file loader (src/data/loader.ts), as timm builds them:
 *
 *  - eval: timm's `transforms_imagenet_eval` (Resize(floor(img_size / crop_pct)) with PIL's resampling,
 *    CenterCrop, ToTensor, Normalize) through folder.ts's PIL-exact decodeImage;
 *  - train: timm's default `transforms_imagenet_train` without colour jitter: RandomResizedCrop(img_size,
 *    scale, ratio) (torchvision's crop search, then PIL crop + resize), RandomHorizontalFlip(p), ToTensor,
 *    Normalize. The random draws come from one seeded Rng per sample (`sampleSeed`), so the same seed gives
 *    the same crops whichever worker or thread decodes the image.
 *
 * Either may carry timm's RandAugment (`--aa`, src/data/randaugment.ts), applied to the 8-bit crop after
 * the flip and before normalisation, as timm's transforms_imagenet_train places it, with its own draws
 * from the sample's seed.
 *
 * Each writes normalised float32 CHW (3 x img_size x img_size) into `out` at `offset`, the way the loader
 * fills a batch in shared memory.
 */
import { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';
import { cropToChw, decodeImage, normaliseChw, roundHalfEven, type Interpolation } from './folder.js';
import { decodeRgbLikePil } from './pil-decode.js';
import { pilResize, type Image8 } from './pil-resize.js';
import { randAugment, type RandAugmentConfig } from './randaugment.js';

/** RandAugment on the 8-bit crop; `fill` is timm's img_mean fill of the geometric ops (fillFromMean). */
export interface RandAugmentStep {
  config: RandAugmentConfig;
  fill: number[];
}

export interface EvalTransform {
  kind: 'eval';
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  mean: number[];
  std: number[];
  /** a training run without crop augmentation may still RandAugment the centre crop */
  randAugment?: RandAugmentStep;
}

export interface TrainTransform {
  kind: 'train';
  imgSize: number;
  interpolation: Interpolation;
  /** area fraction range of the crop (timm: 0.08-1) */
  scale: [number, number];
  /** aspect ratio range w / h (timm: 3/4-4/3) */
  ratio: [number, number];
  /** probability of a horizontal flip (timm: 0.5) */
  hflip: number;
  mean: number[];
  std: number[];
  randAugment?: RandAugmentStep;
}

export type ImageTransform = EvalTransform | TrainTransform;

/** timm's default train transform (RandomResizedCrop 0.08-1, 3/4-4/3, bilinear; flip p = 0.5). */
export function timmTrainTransform(imgSize: number, mean: number[], std: number[]): TrainTransform {
  return { kind: 'train', imgSize, interpolation: 'bilinear', scale: [0.08, 1], ratio: [3 / 4, 4 / 3], hflip: 0.5, mean, std };
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of a random area (uniform in scale) and a
 * log-uniform aspect ratio; a try fits when the box lies inside the image, and its corner is uniform over
 * the positions that fit. When none fits, the whole image clamped to the ratio range, centred.
 */
export function randomResizedCropBox(width: number, height: number, scale: [number, number], ratio: [number, number], rng: Rng): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]),
    logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const top = rng.int(0, height - h);
      const left = rng.int(0, width - w);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width,
    h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** PIL's `img.crop(box)` of an image that contains the box. */
function crop(img: Image8, b: CropBox): Image8 {
  const ch = img.channels;
  const out = new Uint8Array(b.width * b.height * ch);
  for (let y = 0; y < b.height; y++) {
    const s = ((b.top + y) * img.width + b.left) * ch;
    out.set(img.data.subarray(s, s + b.width * ch), y * b.width * ch);
  }
  return { data: out, width: b.width, height: b.height, channels: ch };
}

/** Mirror each row of a CHW byte image in place. */
function flipChw(chw: Uint8Array, size: number): void {
  for (let r = 0, rows = chw.length / size; r < rows; r++) chw.subarray(r * size, (r + 1) * size).reverse();
}

/** Decoded, cropped and resized 8-bit CHW bytes of one training sample (before normalisation). */
export async function trainCropBytes(file: string, t: TrainTransform, sampleSeed: number): Promise<Uint8Array> {
  let img: Image8;
  try {
    img = await decodeRgbLikePil(file);
  } catch (e) {
    throw new UsageError(`${file}: cannot decode image (${(e as Error).message.split('\n')[0]})`);
  }
  const rng = new Rng(sampleSeed);
  const box = randomResizedCropBox(img.width, img.height, t.scale, t.ratio, rng);
  const flip = rng.next() < t.hflip;
  const s = t.imgSize;
  const resized = pilResize(crop(img, box), s, s, t.interpolation);
  const chw = cropToChw(resized.data, { resizeW: s, resizeH: s, left: 0, top: 0, size: s });
  if (flip) flipChw(chw, s);
  return t.randAugment ? randAugmentChw(chw, s, t.randAugment, sampleSeed) : chw;
}

/** RandAugment of a 3 x size x size byte crop. */
function randAugmentChw(chw: Uint8Array, size: number, step: RandAugmentStep, sampleSeed: number): Uint8Array {
  return randAugment({ data: chw, channels: 3, height: size, width: size }, step.config, sampleSeed, step.fill).data;
}

/** One image through `t` into `out[offset ..]` as normalised float32 CHW. */
export async function transformInto(file: string, t: ImageTransform, sampleSeed: number, out: Float32Array, offset: number): Promise<void> {
  let bytes: Uint8Array;
  if (t.kind === 'eval') {
    bytes = await decodeImage(file, { imgSize: t.imgSize, cropPct: t.cropPct, interpolation: t.interpolation });
    if (t.randAugment) bytes = randAugmentChw(bytes, t.imgSize, t.randAugment, sampleSeed);
  } else bytes = await trainCropBytes(file, t, sampleSeed);
  normaliseChw(bytes, 3, t.mean, t.std, out, offset);
}

/** Floats per transformed image. */
export function transformSize(t: ImageTransform): number {
  return 3 * t.imgSize * t.imgSize;
}
