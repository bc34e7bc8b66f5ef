import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, evalGeometry, evalPreprocess, listImageFolder, loadImageFolder, roundHalfEven } from '../src/data/folder.js';
import { loadBatches, sequentialPlans } from '../src/data/loader.js';
import { resolveDataset } from '../src/data/resolve.js';
import { UsageError } from '../src/util/errors.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('folder-test-');

/** Write an RGB image whose pixels come from f(x, y) -> [r, g, b]. */
async function writeImage(path: string, w: number, h: number, f: (x: number, y: number) => number[], format: 'png' | 'jpeg', channels = 3) {
  const raw = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      f(x, y)
        .slice(0, channels)
        .forEach((v, c) => (raw[(y * w + x) * channels + c] = v));
  const img = sharp(raw, { raw: { width: w, height: h, channels: channels as 1 | 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(path);
}

const COLOURS: Record<string, number[]> = { cat: [200, 30, 40], dog: [20, 180, 60], zebra: [10, 20, 230] };

async function makeFolder(root: string) {
  for (const split of ['train', 'val']) {
    for (const [cls, rgb] of Object.entries(COLOURS)) {
      const d = join(root, split, cls);
      mkdirSync(d, { recursive: true });
      await writeImage(join(d, 'a.png'), 20, 16, () => rgb, 'png');
      await writeImage(join(d, 'b.JPG'), 16, 24, () => rgb, 'jpeg');
      if (split === 'train') writeFileSync(join(d, 'notes.txt'), 'not an image');
    }
  }
}

test('class folders: sorted names give class indices; PNG and JPEG decode to the right colours', async () => {
  const root = join(tmp, 'set');
  await makeFolder(root);
  const list = listImageFolder(join(root, 'train'));
  assert.deepEqual(list.classes, ['cat', 'dog', 'zebra']);
  assert.equal(list.files.length, 6);
  assert.deepEqual([...list.labels], [0, 0, 1, 1, 2, 2]);

  const ds = await resolveDataset('folder', root, { imgSize: 8 });
  assert.deepEqual([ds.numClasses, ds.channels, ds.height, ds.width, ds.train.n, ds.test.n], [3, 3, 8, 8, 6, 6]);
  assert.deepEqual(ds.classNames, ['cat', 'dog', 'zebra']);
  for (const split of [ds.train, ds.test]) {
    for (let i = 0; i < split.n; i++) {
      const rgb = COLOURS[ds.classNames![split.labels[i]!]!]!;
      for (let c = 0; c < 3; c++) {
        for (const p of [0, 27, 63]) {
          const v = split.images[i * 192 + c * 64 + p]!;
          assert.ok(Math.abs(v - rgb[c]!) <= 4, `image ${i} channel ${c}: ${v} vs ${rgb[c]}`);
        }
      }
    }
  }
});

test('a lossless PNG at its own size decodes exactly, CHW with R first; grayscale becomes 3 equal channels', async () => {
  const p = join(tmp, 'exact.png');
  const f = (x: number, y: number) => [x * 10 + y, 200 - x - y * 7, (x * y) % 256];
  await writeImage(p, 12, 9, f, 'png');
  // cropPct 1 on a 12x9 image with imgSize 9 keeps the height: no resize, crop left = round(1.5) = 2.
  const b = await decodeImage(p, { imgSize: 9, cropPct: 1, interpolation: 'bicubic' });
  for (let y = 0; y < 9; y++) {
    for (let x = 0; x < 9; x++) {
      for (let c = 0; c < 3; c++) assert.equal(b[c * 81 + y * 9 + x], f(x + 2, y)[c], `c${c} y${y} x${x}`);
    }
  }
  const g = join(tmp, 'gray.png');
  await writeImage(g, 5, 5, (x, y) => [x * 50 + y], 'png', 1);
  const gb = await decodeImage(g, { imgSize: 5, cropPct: 1, interpolation: 'bilinear' });
  for (let i = 0; i < 25; i++) {
    assert.equal(gb[i], (i % 5) * 50 + Math.floor(i / 5));
    assert.equal(gb[25 + i], gb[i]);
    assert.equal(gb[50 + i], gb[i]);
  }
});

test('centre-crop geometry follows timm/torchvision (floor(size/crop_pct), int(), round half to even)', () => {
  assert.equal(roundHalfEven(16.5), 16);
  assert.equal(roundHalfEven(17.5), 18);
  assert.equal(roundHalfEven(2.4999), 2);
  // 500x375 ImageNet photo at 224 / 0.875: shorter side 375 -> 256, longer int(256*500/375) = 341.
  assert.deepEqual(evalGeometry(500, 375, 224, 0.875), { resizeW: 341, resizeH: 256, left: 58, top: 16, size: 224 });
  // portrait: 333x500 -> 256 x int(256*500/333) = 384; top = round(80) = 80; left = 16.
  assert.deepEqual(evalGeometry(333, 500, 224, 0.875), { resizeW: 256, resizeH: 384, left: 16, top: 80, size: 224 });
  // 224x257 at crop_pct 1: no resize, top = round(16.5) = 16 (Python rounds half to even).
  assert.deepEqual(evalGeometry(224, 257, 224, 1), { resizeW: 224, resizeH: 257, left: 0, top: 16, size: 224 });
  // crop_pct 0.95 at 288: floor(288 / 0.95) = 303.
  assert.equal(evalGeometry(640, 480, 288, 0.95).resizeH, 303);
  // crop larger than the resized image (crop_pct > 1) pads: 100 -> 90, pad floor(10/2) = 5.
  assert.deepEqual(evalGeometry(100, 100, 100, 100 / 90), { resizeW: 90, resizeH: 90, left: -5, top: -5, size: 100 });
  assert.throws(() => evalGeometry(10, 10, 8, 0), UsageError);
});

test('eval preprocessing of a gradient image matches a hand computation of the crop', async () => {
  // 256x128 image, R = x, G = 2y. imgSize 64, crop_pct 1: shorter side 128 -> 64 (scale 2), width 128,
  // crop left = round((128 - 64) / 2) = 32, top 0. Output pixel (i, j) samples resized (i, j + 32), i.e.
  // source x = 2 (j + 32) + 0.5, y = 2 i + 0.5 for a (linear) filter centred on pixel centres.
  const p = join(tmp, 'grad.png');
  await writeImage(p, 256, 128, (x, y) => [x, 2 * y, 128], 'png');
  const mean = [0.5, 0.4, 0.3],
    std = [0.2, 0.25, 0.3];
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    const t = await evalPreprocess(p, { imgSize: 64, cropPct: 1, interpolation, mean, std });
    assert.equal(t.length, 3 * 64 * 64);
    const byte = (c: number, i: number, j: number) => (t[c * 4096 + i * 64 + j]! * std[c]! + mean[c]!) * 255;
    for (const i of [1, 10, 31, 62]) {
      for (const j of [1, 20, 40, 62]) {
        assert.ok(Math.abs(byte(0, i, j) - (2 * (j + 32) + 0.5)) <= 1.01, `${interpolation} R(${i},${j}) = ${byte(0, i, j)}`);
        assert.ok(Math.abs(byte(1, i, j) - 2 * (2 * i + 0.5)) <= 1.51, `${interpolation} G(${i},${j}) = ${byte(1, i, j)}`);
        assert.ok(Math.abs(byte(2, i, j) - 128) < 1e-3);
      }
    }
  }
  // Default crop_pct 0.875: scale floor(64/0.875) = 73, width int(73*2) = 146, left = round(41) = 41.
  const t = await evalPreprocess(p, { imgSize: 64, interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1] });
  const s = 256 / 146;
  for (const j of [5, 30, 60]) {
    const want = (j + 41 + 0.5) * s - 0.5;
    assert.ok(Math.abs(t[32 * 64 + j]! * 255 - want) <= 1.2, `R(32,${j}) = ${t[32 * 64 + j]! * 255}, want ${want}`);
  }
});

test('streamed eval batches and bad folders', async () => {
  const root = join(tmp, 'set2');
  await makeFolder(root);
  const seen: number[] = [];
  const val = listImageFolder(join(root, 'val'));
  const transform = {
    kind: 'eval' as const,
    imgSize: 8,
    cropPct: 0.875,
    interpolation: 'bicubic' as const,
    mean: [0, 0, 0],
    std: [1, 1, 1],
  };
  for await (const b of loadBatches(sequentialPlans(val.files, val.labels, 4), { transform, maxBatch: 4, workers: 0 })) {
    assert.equal(b.x.length, b.n * 3 * 64);
    seen.push(...b.y);
  }
  assert.deepEqual(seen, [0, 0, 1, 1, 2, 2]);

  const empty = join(tmp, 'empty');
  mkdirSync(join(empty, 'a'), { recursive: true });
  assert.throws(() => listImageFolder(empty), /empty: no \.jpg\/\.jpeg\/\.png images/);
  assert.throws(() => listImageFolder(join(tmp, 'nope')), /nope: image folder does not exist/);
  const broken = join(tmp, 'broken');
  mkdirSync(join(broken, 'a'), { recursive: true });
  writeFileSync(join(broken, 'a', 'x.jpg'), Buffer.from('not a jpeg at all'));
  await assert.rejects(loadImageFolder(broken, { imgSize: 8 }), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /broken\/a\/x\.jpg: cannot decode image/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  const mism = join(tmp, 'mism');
  mkdirSync(join(mism, 'train', 'a'), { recursive: true });
  mkdirSync(join(mism, 'val', 'b'), { recursive: true });
  await writeImage(join(mism, 'train', 'a', '1.png'), 4, 4, () => [1, 2, 3], 'png');
  await writeImage(join(mism, 'val', 'b', '1.png'), 4, 4, () => [1, 2, 3], 'png');
  await assert.rejects(resolveDataset('folder', mism, { imgSize: 4 }), /val: class folders \(1\) differ/);
});
