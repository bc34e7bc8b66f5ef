/**
 * Pixel-exact eval preprocessing: our decode (pil-decode.ts), resize (pil-resize.ts), centre crop and
 * normalisation against PIL + torchvision, i.e. timm's validate.py. The photographs and the references
 * are generated at test time by test/fixtures/pil_reference.py from scikit-image's sample data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage, evalPreprocess, type Interpolation } from '../src/data/folder.js';
import { decodeRgbLikePil } from '../src/data/pil-decode.js';
import { nearestIndices, pilResize, type Image8 } from '../src/data/pil-resize.js';
import { FIXTURES, findPython } from './helpers/fixtures.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const INTERPOLATIONS: Interpolation[] = ['bilinear', 'bicubic', 'nearest'];
/** (img_size, crop_pct): timm's default, a tighter crop, an upscaling one, and one that pads (crop > resized image) */
const SIZES: Array<[number, number]> = [
  [224, 0.875],
  [160, 0.95],
  [384, 0.9],
  [224, 1.15],
];
const NORM = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const python = findPython(['PIL', 'torchvision', 'numpy']);
const tmp = tempDirUntilExit('pil-ref-');

interface RefImage {
  file: string;
  kind: string;
  mode: string;
  width: number;
  height: number;
  offset: number;
}
interface RefCrop {
  file: string;
  img_size: number;
  crop_pct: number;
  interpolation: Interpolation;
  offset: number;
  mean?: number[];
  std?: number[];
  normalised_offset?: number;
}

/** Run pil_reference.py; returns why the references cannot be made, or false. */
function makeReference(args: string[]): string | false {
  if (!python) return 'needs python3 with PIL, torchvision and numpy (optional: apt-get install python3-pil python3-torchvision)';
  const r = spawnSync(python, [join(FIXTURES, 'pil_reference.py'), ...args], { encoding: 'utf8' });
  if (r.status === 3) return r.stderr.trim();
  if (r.status !== 0) throw new Error(`pil_reference.py ${args[0]} failed: ${r.stderr}`);
  return false;
}

const photoDir = join(tmp, 'photos');
const settings = [
  ...INTERPOLATIONS.flatMap((interpolation) => SIZES.map(([img_size, crop_pct]) => ({ img_size, crop_pct, interpolation }))),
  // the float tensors, ImageNet's and other statistics, on a few images
  { img_size: 224, crop_pct: 0.875, interpolation: 'bicubic', ...IMAGENET, only: ['rocket.jpg', 'camera_grey.jpg'] },
  { img_size: 160, crop_pct: 0.95, interpolation: 'bilinear', ...NORM, only: ['chelsea_rgba.png', 'coffee_portrait.jpg'] },
];
const photoSkip = makeReference(['preprocess', photoDir, JSON.stringify(settings)]);
const resizeDir = join(tmp, 'resize');
const resizeSkip = makeReference(['resize', resizeDir]);

function diff(a: ArrayLike<number>, b: ArrayLike<number>): { n: number; max: number } {
  let n = 0,
    max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d) {
      n++;
      if (d > max) max = d;
    }
  }
  return { n, max };
}

/** CHW -> HWC, to compare with numpy's view of a PIL image. */
function hwc(chw: Uint8Array, size: number): Uint8Array {
  const plane = size * size;
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = chw[c * plane + i]!;
  return out;
}

test('nearest follows the position PIL accumulates (exact ties fall where PIL puts them)', () => {
  // PIL: Image.new('L', (2, 1)).resize((7, 1), NEAREST) takes [0,0,0,0,1,1,1]; floor((3 + 0.5) * 2 / 7) would be 1
  assert.deepEqual([...nearestIndices(2, 7)], [0, 0, 0, 0, 1, 1, 1]);
  assert.deepEqual([...nearestIndices(2, 49)].slice(20, 28), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual([...nearestIndices(3, 5)], [0, 0, 1, 2, 2]);
});

test('pilResize: same size is a copy, a constant image stays constant, bad sizes throw', () => {
  const img: Image8 = { data: new Uint8Array(5 * 4 * 3).fill(77), width: 5, height: 4, channels: 3 };
  for (const f of INTERPOLATIONS) {
    assert.deepEqual(pilResize(img, 5, 4, f).data, img.data);
    for (const [w, h] of [
      [13, 2],
      [1, 1],
      [3, 9],
    ] as const)
      assert.ok(
        pilResize(img, w, h, f).data.every((v) => v === 77),
        `${f} ${w}x${h}`,
      );
  }
  assert.throws(() => pilResize(img, 0, 4, 'bilinear'), RangeError);
  assert.throws(() => pilResize({ ...img, width: 6 }, 3, 3, 'bilinear'), RangeError);
});

test('pilResize with a region computes exactly that rectangle of the full result', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  for (const ch of [3, 1, 4]) {
    const img: Image8 = {
      data: Uint8Array.from({ length: 29 * 17 * ch }, () => Math.floor(rand() * 256)),
      width: 29,
      height: 17,
      channels: ch,
    };
    for (const f of INTERPOLATIONS) {
      for (const [w, h] of [
        [11, 40],
        [64, 9],
        [29, 6],
        [5, 17],
      ] as const) {
        const full = pilResize(img, w, h, f);
        const left = Math.floor(rand() * w),
          top = Math.floor(rand() * h);
        const rw = 1 + Math.floor(rand() * (w - left)),
          rh = 1 + Math.floor(rand() * (h - top));
        const part = pilResize(img, w, h, f, { left, top, width: rw, height: rh });
        const want = new Uint8Array(rw * rh * ch);
        for (let y = 0; y < rh; y++)
          want.set(full.data.subarray(((top + y) * w + left) * ch, ((top + y) * w + left + rw) * ch), y * rw * ch);
        assert.deepEqual(part.data, want, `${f} ${ch}ch ${w}x${h} region ${rw}x${rh}+${left}+${top}`);
      }
    }
    assert.throws(() => pilResize(img, 10, 10, 'bicubic', { left: 5, top: 0, width: 6, height: 1 }), RangeError);
  }
});

test(
  "pilResize equals PIL's Image.resize byte for byte on synthetic images (down, up, odd ratios, 1 px)",
  { skip: resizeSkip },
  async () => {
    const entries = JSON.parse(readFileSync(join(resizeDir, 'resize.json'), 'utf8')) as Array<{
      file: string;
      width: number;
      height: number;
      interpolation: Interpolation;
      offset: number;
    }>;
    const blob = readFileSync(join(resizeDir, 'resize.bin'));
    const sources = new Map<string, Image8>();
    const bad: string[] = [];
    for (const e of entries) {
      if (!sources.has(e.file)) sources.set(e.file, await decodeRgbLikePil(join(resizeDir, e.file)));
      const src = sources.get(e.file)!;
      const got = pilResize(src, e.width, e.height, e.interpolation).data;
      const want = blob.subarray(e.offset, e.offset + e.width * e.height * 3);
      const d = diff(got, want);
      if (d.n)
        bad.push(`${e.file} ${src.width}x${src.height} -> ${e.width}x${e.height} ${e.interpolation}: ${d.n} bytes differ, max ${d.max}`);
    }
    assert.equal(entries.length, 2 * 17 * 3);
    assert.deepEqual(bad, []);
  },
);

const ref = photoSkip ? null : (JSON.parse(readFileSync(join(photoDir, 'ref.json'), 'utf8')) as { images: RefImage[]; crops: RefCrop[] });
const blob = photoSkip ? Buffer.alloc(0) : readFileSync(join(photoDir, 'ref.bin'));

test("decoding equals PIL's Image.open(f).convert('RGB') on every kind of file", { skip: photoSkip }, async (t) => {
  const bad: string[] = [];
  for (const im of ref!.images) {
    const got = await decodeRgbLikePil(join(photoDir, im.file));
    assert.equal(`${got.width}x${got.height}`, `${im.width}x${im.height}`, im.file);
    const d = diff(got.data, blob.subarray(im.offset, im.offset + im.width * im.height * 3));
    t.diagnostic(`${im.file} (${im.kind}, PIL mode ${im.mode}): ${d.n ? `${d.n} bytes differ, max ${d.max}` : 'exact'}`);
    if (d.n) bad.push(`${im.file}: ${d.n} bytes differ, max ${d.max}`);
  }
  assert.ok(
    ref!.images.some((i) => i.mode === 'CMYK') && ref!.images.some((i) => i.mode === 'L') && ref!.images.some((i) => i.mode === 'RGBA'),
  );
  assert.deepEqual(bad, []);
});

test(
  'eval crops equal PIL + torchvision Resize/CenterCrop byte for byte (bilinear, bicubic, nearest; down, up, padded)',
  { skip: photoSkip },
  async (t) => {
    const perInterp = new Map<string, { crops: number; exact: number; bytes: number; max: number }>();
    const bad: string[] = [];
    for (const c of ref!.crops) {
      const got = hwc(
        await decodeImage(join(photoDir, c.file), { imgSize: c.img_size, cropPct: c.crop_pct, interpolation: c.interpolation }),
        c.img_size,
      );
      const d = diff(got, blob.subarray(c.offset, c.offset + got.length));
      const s = perInterp.get(c.interpolation) ?? { crops: 0, exact: 0, bytes: 0, max: 0 };
      s.crops++;
      if (!d.n) s.exact++;
      s.bytes += d.n;
      s.max = Math.max(s.max, d.max);
      perInterp.set(c.interpolation, s);
      if (d.n) bad.push(`${c.file} ${c.interpolation} ${c.img_size}/${c.crop_pct}: ${d.n} bytes differ, max ${d.max}`);
    }
    for (const [k, s] of perInterp) t.diagnostic(`${k}: ${s.exact}/${s.crops} crops exact (${s.bytes} bytes differ, max ${s.max})`);
    assert.equal(perInterp.size, 3);
    assert.deepEqual(bad, []);
  },
);

test('normalised tensors equal ToTensor + Normalize (float32, bit for bit)', { skip: photoSkip }, async () => {
  const withNorm = ref!.crops.filter((c) => c.normalised_offset !== undefined);
  assert.equal(withNorm.length, 4);
  for (const c of withNorm) {
    const got = await evalPreprocess(join(photoDir, c.file), {
      imgSize: c.img_size,
      cropPct: c.crop_pct,
      interpolation: c.interpolation,
      mean: c.mean,
      std: c.std,
    });
    const o = c.normalised_offset!;
    const want = new Float32Array(blob.buffer.slice(blob.byteOffset + o, blob.byteOffset + o + got.length * 4));
    const d = diff(got, want);
    assert.equal(d.n, 0, `${c.file}: ${d.n} values differ, max ${d.max}`);
  }
});
