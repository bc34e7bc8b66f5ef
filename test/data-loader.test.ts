/**
 * The parallel image loader: worker threads give the same batches, byte for byte, as the per-image
 * PIL-exact transforms on this thread (eval and seeded train transforms), in plan order; errors name the
 * file; the SIMD resampling passes equal the JavaScript ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { evalPreprocess, IMAGENET_MEAN, IMAGENET_STD, normaliseChw } from '../src/data/folder.js';
import { ImageLoader, sequentialPlans, type BatchPlan } from '../src/data/loader.js';
import { decodeRgbLikePil } from '../src/data/pil-decode.js';
import { pilResize, pilResizeScalar } from '../src/data/pil-resize.js';
import { simdAvailable } from '../src/data/pil-resize-simd.js';
import { timmTrainTransform, trainCropBytes, type EvalTransform } from '../src/data/transforms.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('loader-test-');
const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';

/** A few photographs as JPEGs of different sizes (scikit-image's when installed, else a synthetic scene). */
async function photos(): Promise<string[]> {
  const src = ['rocket.jpg', 'chelsea.png', 'coffee.png'].map((f) => join(SKIMAGE, f)).filter((f) => existsSync(f));
  const out: string[] = [];
  const sizes: Array<[number, number]> = [
    [160, 120],
    [97, 131],
    [203, 150],
    [120, 120],
    [150, 99],
  ];
  for (const [i, [w, h]] of sizes.entries()) {
    const f = join(tmp, `p${i}.jpg`);
    const img = src.length
      ? sharp(src[i % src.length]!).resize(w, h, { fit: 'fill' })
      : sharp(Buffer.from(Array.from({ length: w * h * 3 }, (_, k) => (k * 37 + i * 11) % 256)), {
          raw: { width: w, height: h, channels: 3 },
        });
    await img.jpeg({ quality: 80 + i * 3 }).toFile(f);
    out.push(f);
  }
  return out;
}

const files = await photos();
const labels = Int32Array.from(files, (_, i) => i * 10);
const EVAL: EvalTransform = { kind: 'eval', imgSize: 24, cropPct: 0.875, interpolation: 'bicubic', mean: IMAGENET_MEAN, std: IMAGENET_STD };

async function collect(
  loader: ImageLoader,
  plans: Iterable<BatchPlan>,
  transform = EVAL as Parameters<ImageLoader['stream']>[1]['transform'],
  maxBatch = 2,
) {
  const out: Array<{ x: Float32Array; y: number[] }> = [];
  for await (const b of loader.stream(plans, { transform, maxBatch })) out.push({ x: b.x.slice(), y: [...b.y] });
  return out;
}

test(
  'SIMD resampling equals the JavaScript passes (random sizes, regions, both filters)',
  { skip: !simdAvailable() && 'no WebAssembly SIMD' },
  () => {
    const rng = new Rng(5);
    for (let t = 0; t < 150; t++) {
      const w = rng.int(1, 50),
        h = rng.int(1, 50);
      const data = Uint8Array.from({ length: w * h * 3 }, () => (rng.next() < 0.3 ? 255 * rng.int(0, 1) : rng.int(0, 255)));
      const ow = rng.int(1, 70),
        oh = rng.int(1, 70),
        rw = rng.int(1, ow),
        rh = rng.int(1, oh);
      const region = { left: rng.int(0, ow - rw), top: rng.int(0, oh - rh), width: rw, height: rh };
      for (const f of ['bilinear', 'bicubic'] as const) {
        const img = { data, width: w, height: h, channels: 3 };
        assert.deepEqual(
          pilResize(img, ow, oh, f, region).data,
          pilResizeScalar(img, ow, oh, f, region).data,
          `${w}x${h} -> ${ow}x${oh} ${f}`,
        );
      }
    }
  },
);

test('loader batches equal per-image eval preprocessing, in order, on 0 and 2 workers', async () => {
  const want = await Promise.all(files.map((f) => evalPreprocess(f, EVAL)));
  for (const workers of [0, 2]) {
    const loader = new ImageLoader({ workers });
    try {
      const got = await collect(loader, sequentialPlans(files, labels, 2));
      assert.deepEqual(
        got.map((b) => b.y),
        [[0, 10], [20, 30], [40]],
      );
      const per = 3 * 24 * 24;
      got.forEach((b, k) =>
        b.y.forEach((_, i) =>
          assert.deepEqual(b.x.subarray(i * per, (i + 1) * per), want[k * 2 + i], `workers ${workers}, image ${k * 2 + i}`),
        ),
      );
    } finally {
      await loader.close();
    }
  }
});

test('train transform: seeded random-resized crops and flips, the same on any number of workers', async () => {
  const t = timmTrainTransform(16, IMAGENET_MEAN, IMAGENET_STD);
  const seeds = Uint32Array.from(files, (_, i) => 1000 + i);
  const plans = (): BatchPlan[] => [
    { files: files.slice(0, 3), labels: labels.slice(0, 3), seeds: seeds.slice(0, 3) },
    { files: files.slice(3), labels: labels.slice(3), seeds: seeds.slice(3) },
  ];
  const per = 3 * 16 * 16;
  const want = await Promise.all(files.map(async (f, i) => normaliseChw(await trainCropBytes(f, t, seeds[i]!), 3, t.mean, t.std)));
  const runs = [];
  for (const workers of [0, 2]) {
    const loader = new ImageLoader({ workers });
    try {
      runs.push(await collect(loader, plans(), t, 3));
    } finally {
      await loader.close();
    }
  }
  for (const got of runs) {
    const flat = got.flatMap((b) => b.y.map((_, i) => b.x.slice(i * per, (i + 1) * per)));
    flat.forEach((x, i) => assert.deepEqual(x, want[i], `image ${i}`));
  }
  // another seed, another crop; scale and ratio pinned to the whole image give the plain resize, and a flip
  assert.notDeepEqual(await trainCropBytes(files[0]!, t, 1), await trainCropBytes(files[0]!, t, 2));
  const img = await decodeRgbLikePil(files[0]!);
  const whole = { ...t, scale: [1, 1] as [number, number], ratio: [img.width / img.height, img.width / img.height] as [number, number] };
  const plain = pilResize(img, 16, 16, 'bilinear').data;
  const noFlip = await trainCropBytes(files[0]!, { ...whole, hflip: 0 }, 3);
  const flip = await trainCropBytes(files[0]!, { ...whole, hflip: 1 }, 3);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      assert.equal(noFlip[y * 16 + x], plain[(y * 16 + x) * 3], `R(${y},${x})`);
      assert.equal(flip[256 + y * 16 + x], plain[(y * 16 + 15 - x) * 3 + 1], `flipped G(${y},${x})`);
    }
  }
});

test('an undecodable file rejects the stream with a UsageError naming it; leaving early cancels the rest', async () => {
  const bad = join(tmp, 'bad.jpg');
  writeFileSync(bad, 'not a jpeg');
  const loader = new ImageLoader({ workers: 1 });
  try {
    await assert.rejects(collect(loader, sequentialPlans([files[0]!, bad], [0, 1], 2)), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /bad\.jpg: cannot decode image/);
      return true;
    });
    // the loader still works after a failed stream; a consumer that stops early leaves nothing behind
    let seen = 0;
    for await (const b of loader.stream(sequentialPlans(files, labels, 1), { transform: EVAL, maxBatch: 1, prefetch: 2 })) {
      seen += b.n;
      break;
    }
    assert.equal(seen, 1);
    assert.equal((await collect(loader, sequentialPlans(files.slice(0, 2), labels, 2))).length, 1);
  } finally {
    await loader.close();
  }
});
