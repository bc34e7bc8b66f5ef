/**
 * Decode a JPEG or PNG to 8-bit RGB exactly as `PIL.Image.open(f).convert('RGB')` does (the loader of
 * timm's validate.py), using sharp (libvips) only to decode, with no resizing or colour management:
 *
 *  - no EXIF rotation (PIL's open leaves the stored orientation), no ICC transform (PIL ignores embedded
 *    profiles), alpha dropped without compositing (convert('RGB') discards it);
 *  - grey (and grey + alpha, 1-bit, grey palettes) replicated to R = G = B;
 *  - CMYK (Adobe-inverted JPEGs come out of the decoder un-inverted, as in PIL) converted with PIL's
 *    formula R = round((255 - C) (255 - K) / 255), likewise G from M and B from Y, instead of libvips'
 *    ICC-profile conversion;
 *  - 16-bit PNGs as PIL opens them: RGB(A) and grey + alpha keep the high byte of each sample; plain
 *    grey becomes PIL mode 'I', whose conversion to RGB clips to [0, 255] (so most 16-bit grey values
 *    saturate, as they do in PIL).
 *
 * JPEGs: libvips decodes with libjpeg-turbo's defaults (ISLOW integer DCT, fancy upsampling), as PIL does;
 * test/data-preprocess.test.ts checks the decoded pixels against PIL.
 */
import { createRequire } from 'node:module';
import type sharpModule from 'sharp';
import { UsageError } from '../util/errors.js';
import type { Image8 } from './pil-resize.js';

let sharpFn: typeof sharpModule | undefined;

/**
 * sharp, loaded on the first decode: its native binary comes as an optional dependency, so an install
 * with --omit=optional lacks it, and only the commands that read images should notice.
 */
function sharp(): typeof sharpModule {
  if (sharpFn) return sharpFn;
  try {
    sharpFn = createRequire(import.meta.url)('sharp') as typeof sharpModule;
  } catch (e) {
    const why = String((e as Error)?.message ?? e).split('\n')[0];
    throw new UsageError(`decoding images needs sharp's native binary, which did not load (${why}); reinstall without --omit=optional`);
  }
  return sharpFn;
}

function cmykToRgb(src: Uint8Array | Uint16Array, channels: number, n: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const nk = 255 - src[s + 3]!;
    for (let q = 0; q < 3; q++) {
      // (255 - c) * nk / 255 never ends in exactly .5 (255 is odd), so rounding half up is plain rounding
      out[i * 3 + q] = Math.floor(((255 - src[s + q]!) * nk) / 255 + 0.5);
    }
  }
  return out;
}

/** Bands 0-2 of each pixel (band 0 replicated when the image is grey) through `map`, as 8-bit RGB. */
function toRgb(src: Uint8Array | Uint16Array, channels: number, n: number, grey: boolean, map: (v: number) => number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    if (grey) {
      const v = map(src[s]!);
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    } else {
      out[i * 3] = map(src[s]!);
      out[i * 3 + 1] = map(src[s + 1]!);
      out[i * 3 + 2] = map(src[s + 2]!);
    }
  }
  return out;
}

/** 8-bit samples to RGB without a per-sample call (the common case: every JPEG, most PNGs). */
function toRgb8(src: Uint8Array, channels: number, n: number, grey: boolean): Uint8Array {
  // already RGB: the decoder's buffer is the image
  if (!grey && channels === 3) return src;
  const out = new Uint8Array(n * 3);
  for (let i = 0, s = 0, o = 0; i < n; i++, s += channels, o += 3) {
    const r = src[s]!;
    out[o] = r;
    out[o + 1] = grey ? r : src[s + 1]!;
    out[o + 2] = grey ? r : src[s + 2]!;
  }
  return out;
}

/** PIL-identical 8-bit RGB pixels (HWC) of a JPEG or PNG file or buffer. */
export async function decodeRgbLikePil(input: string | Buffer): Promise<Image8> {
  const opts = { failOn: 'error' as const, ignoreIcc: true, autoOrient: false };
  const decoder = sharp();
  const meta = await decoder(input, opts).metadata();
  const space = meta.space ?? 'srgb';
  const wide = meta.depth === 'ushort' || space === 'rgb16' || space === 'grey16';
  let pipe = decoder(input, opts);
  // keep the decoder's own bands: ask for the space it already is in, so libvips converts nothing
  if (space === 'cmyk') pipe = pipe.pipelineColourspace('cmyk').toColourspace('cmyk');
  else pipe = pipe.toColourspace(space);
  const { data, info } = await pipe.raw(wide ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const ch = info.channels;
  const samples = wide
    ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (samples.length !== n * ch) throw new Error(`decoder returned ${samples.length} samples for ${info.width}x${info.height}x${ch}`);
  let rgb: Uint8Array;
  if (space === 'cmyk') {
    if (ch < 4) throw new Error(`CMYK image with ${ch} bands`);
    rgb = cmykToRgb(samples, ch, n);
  } else {
    const grey = space === 'b-w' || space === 'grey16' || ch <= 2;
    if (!wide) rgb = toRgb8(samples as Uint8Array, ch, n, grey);
    else rgb = toRgb(samples, ch, n, grey, grey && ch === 1 ? (v: number) => Math.min(v, 255) : (v: number) => v >> 8);
  }
  return { data: rgb, width: info.width, height: info.height, channels: 3 };
}
