import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchPipeline, datasetPipeline, defaultAugment, limitSubset, type PipelineOptions } from '../src/data/pipeline.js';
import { resolveDataset } from '../src/data/resolve.js';
import type { Split } from '../src/data/types.js';
import { UsageError } from '../src/util/errors.js';

/** n images of C x H x W with pseudo-random bytes; labels i % k. */
function synthetic(n: number, C: number, H: number, W: number, k = 10): Split {
  const images = new Uint8Array(n * C * H * W);
  for (let i = 0; i < images.length; i++) images[i] = (Math.imul(i + 1, 2654435761) >>> 24) & 255;
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i % k), n };
}

const norm = (v: number, m: number, s: number) => (v / 255 - m) / s;

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5, msg = '') {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${msg} [${i}] ${a[i]} vs ${b[i]}`);
}

test('each epoch is a seeded permutation: same seed same order, new epoch new order, normalised values', () => {
  const split = synthetic(103, 3, 4, 5);
  const opts: PipelineOptions = { batchSize: 10, seed: 7, mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.4] };
  const a = new BatchPipeline(split, { channels: 3, height: 4, width: 5 }, opts);
  const b = new BatchPipeline(split, { channels: 3, height: 4, width: 5 }, opts);
  assert.equal(a.stepsPerEpoch, 11);
  const seen: number[] = [];
  for (const batch of a.epoch(0)) {
    const other = b.batch(0, batch.step);
    assert.deepEqual(other.x, batch.x);
    assert.deepEqual(other.y, batch.y);
    seen.push(...batch.indices);
    for (let i = 0; i < batch.n; i++) {
      const idx = batch.indices[i]!;
      assert.equal(batch.y[i], split.labels[idx]);
      for (const [c, p] of [
        [0, 0],
        [1, 7],
        [2, 19],
      ] as const) {
        const want = norm(split.images[idx * 60 + c * 20 + p]!, opts.mean[c]!, opts.std[c]!);
        assert.ok(Math.abs(batch.x[i * 60 + c * 20 + p]! - want) < 1e-5);
      }
    }
  }
  assert.equal(seen.length, 103);
  assert.deepEqual(
    [...seen].sort((x, y) => x - y),
    Array.from({ length: 103 }, (_, i) => i),
  );
  assert.notDeepEqual([...a.order(1)], [...a.order(0)]);
  const c = new BatchPipeline(split, { channels: 3, height: 4, width: 5 }, { ...opts, seed: 8 });
  assert.notDeepEqual([...c.order(0)], [...a.order(0)]);
  const last = a.batch(0, 10);
  assert.equal(last.n, 3);
  assert.deepEqual(last.shape, [3, 3, 4, 5]);
  const dl = new BatchPipeline(split, { channels: 3, height: 4, width: 5 }, { ...opts, dropLast: true });
  assert.equal(dl.stepsPerEpoch, 10);
  const ordered = new BatchPipeline(split, { channels: 3, height: 4, width: 5 }, { ...opts, shuffle: false });
  assert.deepEqual([...ordered.batch(0, 2).indices], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
});

test('a resumed run (fresh pipeline started at epoch, step) sees identical batches, augmentation included', () => {
  const split = synthetic(200, 3, 8, 8);
  const opts: PipelineOptions = { batchSize: 16, seed: 123, mean: [0.5], std: [0.25], augment: { padCrop: 2, flip: true } };
  const geom = { channels: 3, height: 8, width: 8 };
  const full = [...new BatchPipeline(split, geom, opts).from(0, 0, 3)];
  assert.equal(full.length, 3 * 13);
  const resumed = [...new BatchPipeline(split, geom, opts).from(1, 5, 3)];
  const tail = full.slice(13 + 5);
  assert.equal(resumed.length, tail.length);
  resumed.forEach((b, k) => {
    assert.equal(b.epoch, tail[k]!.epoch);
    assert.equal(b.step, tail[k]!.step);
    assert.deepEqual(b.indices, tail[k]!.indices);
    assert.deepEqual(b.x, tail[k]!.x);
  });
  // A reused output buffer gives the same numbers.
  const out = new Float32Array(16 * 192);
  const again = new BatchPipeline(split, geom, opts).batch(2, 3, out);
  assert.equal(again.x.buffer, out.buffer);
  assert.deepEqual(again.x, full[26 + 3]!.x);
});

/** torchvision reference: pad with zeros by p, crop H x W at (p + dy, p + dx), then optionally flip. */
function reference(img: Uint8Array, C: number, H: number, W: number, p: number, dy: number, dx: number, flip: boolean): number[] {
  const Hp = H + 2 * p,
    Wp = W + 2 * p;
  const padded = new Uint8Array(C * Hp * Wp);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) padded[c * Hp * Wp + (y + p) * Wp + x + p] = img[c * H * W + y * W + x]!;
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const row: number[] = [];
      for (let x = 0; x < W; x++) row.push(padded[c * Hp * Wp + (y + p + dy) * Wp + x + p + dx]!);
      if (flip) row.reverse();
      out.push(...row);
    }
  }
  return out;
}

test('random crop with zero padding and horizontal flip match a pad-crop-flip reference', () => {
  const C = 2,
    H = 6,
    W = 7,
    p = 2;
  const split = synthetic(40, C, H, W);
  const pipe = new BatchPipeline(
    split,
    { channels: C, height: H, width: W },
    {
      batchSize: 40,
      seed: 5,
      mean: [0],
      std: [1],
      augment: { padCrop: p, flip: true },
    },
  );
  const used = new Set<string>();
  for (let epoch = 0; epoch < 3; epoch++) {
    const b = pipe.batch(epoch, 0);
    for (let i = 0; i < b.n; i++) {
      const idx = b.indices[i]!;
      const img = split.images.subarray(idx * C * H * W, (idx + 1) * C * H * W);
      const got = Array.from(b.x.subarray(i * C * H * W, (i + 1) * C * H * W), (v) => Math.round(v * 255));
      let match: string | undefined;
      for (let dy = -p; dy <= p && !match; dy++) {
        for (let dx = -p; dx <= p && !match; dx++) {
          for (const flip of [false, true]) {
            if (reference(img, C, H, W, p, dy, dx, flip).every((v, k) => v === got[k])) {
              match = `${dy},${dx},${flip}`;
              break;
            }
          }
        }
      }
      assert.ok(match, `batch image ${i} is no pad-crop-flip of image ${idx}`);
      used.add(match);
    }
  }
  // 120 draws over 50 (dy, dx, flip) choices: the randomness is really used.
  assert.ok(used.size > 25, `only ${used.size} distinct augmentations`);
  assert.ok([...used].some((u) => u.endsWith('true')) && [...used].some((u) => u.endsWith('false')));
  // Same seed, other mean/std: identical augmentation, and the zero padding is normalised like any pixel.
  const mean = [0.5, 0.2],
    std = [0.5, 0.1];
  const raw = pipe.batch(0, 0);
  const b = new BatchPipeline(
    split,
    { channels: C, height: H, width: W },
    {
      batchSize: 40,
      seed: 5,
      mean,
      std,
      augment: { padCrop: p, flip: true },
    },
  ).batch(0, 0);
  const want = Array.from(raw.x, (v, k) =>
    norm(Math.round(v * 255), mean[Math.floor(k / (H * W)) % C]!, std[Math.floor(k / (H * W)) % C]!),
  );
  close(b.x, want, 1e-5);
});

test('--limit: deterministic random or stratified subsets', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
  const r1 = limitSubset(labels, 1000, 100, 'random', 3);
  assert.deepEqual(r1, limitSubset(labels, 1000, 100, 'random', 3));
  assert.notDeepEqual(r1, limitSubset(labels, 1000, 100, 'random', 4));
  assert.equal(new Set(r1).size, 100);
  assert.ok([...r1].every((v, i) => i === 0 || v > r1[i - 1]!));
  const s = limitSubset(labels, 1000, 101, 'stratified', 3);
  const counts = [0, 0, 0];
  for (const i of s) counts[labels[i]!]!++;
  // 60.6 / 30.3 / 10.1 -> floors 60/30/10, the one left over goes to the largest remainder (class 0).
  assert.deepEqual(counts, [61, 30, 10]);
  assert.deepEqual(limitSubset(labels, 1000, 5000, 'random', 3).length, 1000);
  assert.throws(() => limitSubset(labels, 1000, 0, 'random', 3), UsageError);

  const split: Split = { images: new Uint8Array(1000), labels, n: 1000 };
  const pipe = new BatchPipeline(
    split,
    { channels: 1, height: 1, width: 1 },
    { batchSize: 32, seed: 9, limit: 101, limitMode: 'stratified', limitSeed: 3, mean: [0], std: [1] },
  );
  assert.equal(pipe.size, 101);
  assert.equal(pipe.stepsPerEpoch, 4);
  const seen = [...pipe.epoch(2)].flatMap((b) => [...b.indices]).sort((a, b) => a - b);
  assert.deepEqual(seen, [...s]);
});

test('grayscale replicated to 3 channels and resized (nearest, bilinear) to a target resolution', () => {
  const H = 4,
    W = 4;
  // One image: a horizontal ramp 0, 10, 20, 30 in every row.
  const img = new Uint8Array(H * W).map((_, i) => (i % W) * 10);
  const split: Split = { images: img, labels: new Uint8Array([3]), n: 1 };
  const rep = new BatchPipeline(
    split,
    { channels: 1, height: H, width: W },
    { batchSize: 1, seed: 0, inChans: 3, mean: [0.1, 0.2, 0.3], std: [1, 2, 4] },
  ).batch(0, 0);
  assert.deepEqual(rep.shape, [1, 3, 4, 4]);
  for (let c = 0; c < 3; c++)
    close(
      rep.x.subarray(c * 16, c * 16 + 16),
      Array.from(img, (v) => norm(v, [0.1, 0.2, 0.3][c]!, [1, 2, 4][c]!)),
    );

  const near = new BatchPipeline(
    split,
    { channels: 1, height: H, width: W },
    { batchSize: 1, seed: 0, mean: [0], std: [1 / 255], resize: { size: 6, mode: 'nearest' } },
  ).batch(0, 0);
  assert.deepEqual(near.shape, [1, 1, 6, 6]);
  // PyTorch nearest: src = floor(dst * 4 / 6) -> 0,0,1,2,2,3.
  close(near.x.subarray(0, 6), [0, 0, 10, 20, 20, 30], 1e-3);

  const bil = new BatchPipeline(
    split,
    { channels: 1, height: H, width: W },
    { batchSize: 1, seed: 0, mean: [0], std: [1 / 255], resize: { size: 8, mode: 'bilinear' } },
  ).batch(0, 0);
  // align_corners=false: src = (dst + 0.5) * 0.5 - 0.5, clamped to [0, 3]; a ramp stays a ramp.
  const want = Array.from({ length: 8 }, (_, d) => 10 * Math.min(Math.max((d + 0.5) * 0.5 - 0.5, 0), 3));
  for (let r = 0; r < 8; r++) close(bil.x.subarray(r * 8, r * 8 + 8), want, 1e-3, `row ${r}`);

  assert.throws(
    () =>
      new BatchPipeline(
        synthetic(2, 3, 2, 2),
        { channels: 3, height: 2, width: 2 },
        { batchSize: 1, seed: 0, inChans: 1, mean: [0], std: [1] },
      ),
    /in-chans 1 does not fit 3-channel/,
  );
  assert.throws(
    () => new BatchPipeline(synthetic(2, 3, 2, 2), { channels: 3, height: 2, width: 2 }, { batchSize: 1, seed: 0, mean: [0, 0], std: [1] }),
    /mean has 2 values/,
  );
});

test('real MNIST through the pipeline: 28 px fed to a 32 px, 3-channel net', async () => {
  const ds = await resolveDataset('mnist');
  assert.deepEqual(defaultAugment('mnist', 28), {});
  const pipe = datasetPipeline(ds, 'train', {
    batchSize: 64,
    seed: 1,
    inChans: 3,
    resize: { size: 32, mode: 'bilinear' },
    limit: 1000,
    limitMode: 'stratified',
  });
  const b = pipe.batch(0, 0);
  assert.deepEqual(b.shape, [64, 3, 32, 32]);
  let sum = 0;
  for (const v of b.x) sum += v;
  // Normalised with MNIST's own statistics, the mean over a batch is near zero.
  assert.ok(Math.abs(sum / b.x.length) < 0.3, `batch mean ${sum / b.x.length}`);
  const hist = new Array(10).fill(0);
  for (const b2 of pipe.epoch(0)) for (const y of b2.y) hist[y]++;
  assert.equal(
    hist.reduce((a, c) => a + c, 0),
    1000,
  );
  assert.ok(
    hist.every((h) => h >= 90 && h <= 113),
    `stratified counts ${hist}`,
  );
});
