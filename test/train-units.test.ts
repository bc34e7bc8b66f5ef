/** Schedule, recipes, config resolution, top-k counting and runs.csv appends: exact values, no training. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../src/data/types.js';
import type { CompiledNet } from '../src/engine/types.js';
import { resolveConfig } from '../src/train/config.js';
import { evaluate, labelRank, requireSamples } from '../src/train/evaluate.js';
import { loadRecipe, recipeNames } from '../src/train/recipe.js';
import { appendRun, type RunRow } from '../src/train/runs.js';
import { lrAt } from '../src/train/schedule.js';
import type { TrainRequest } from '../src/train/types.js';

test('lr: linear warm-up then half cosine, per step', () => {
  const T = 100,
    W = 10,
    lr = 0.4;
  assert.equal(lrAt(0, T, W, lr), 0.04);
  assert.equal(lrAt(9, T, W, lr), 0.4);
  assert.equal(lrAt(10, T, W, lr), 0.4);
  assert.ok(Math.abs(lrAt(55, T, W, lr) - 0.2) < 1e-12); // halfway through the cosine
  assert.ok(Math.abs(lrAt(99, T, W, lr) - 0.5 * lr * (1 + Math.cos((Math.PI * 89) / 90))) < 1e-15);
  assert.ok(lrAt(99, T, W, lr) > 0 && lrAt(99, T, W, lr) < 2e-4);
  assert.equal(lrAt(5, T, 0, lr), 0.5 * lr * (1 + Math.cos((Math.PI * 5) / 100)));
  for (let s = 11; s < T; s++) assert.ok(lrAt(s, T, W, lr) < lrAt(s - 1, T, W, lr));
});

test('built-in recipes validate; the digits recipe is the documented one', () => {
  assert.deepEqual(recipeNames(), ['digits', 'cifar', 'quick', 'imagenet']);
  for (const n of recipeNames()) loadRecipe(n);
  const d = loadRecipe('digits').recipe;
  assert.deepEqual(
    [d.lr, d.batchSize, d.weightDecay, d.warmupEpochs, d.labelSmoothing, d.augment, d.momentum, d.nesterov],
    [0.1, 128, 5e-4, 0.5, 0, 'none', 0.9, true],
  );
  assert.deepEqual(loadRecipe('cifar').recipe.augment, { padCrop: 4, flip: true });
});

const fakeDs = (name: string, c: number, h: number, n: number): Dataset => ({
  name,
  train: { images: new Uint8Array(0), labels: new Int32Array(0), n },
  test: { images: new Uint8Array(0), labels: new Int32Array(0), n: 10 },
  numClasses: 10,
  channels: c,
  height: h,
  width: h,
  mean: [0.5],
  std: [0.5],
});
const req = (o: Partial<TrainRequest> = {}): TrainRequest => ({
  model: { name: 'm', spec: { kind: 'resnet', block: 'basic', layers: [1] } },
  dataset: 'mnist',
  engine: 'cpu',
  seed: 0,
  ...o,
});
const sizeOf = (n: number) => (l: number | undefined) => (l === undefined ? n : Math.min(l, n));

test('config: recipe by dataset, flags override, --steps wins over epochs, stem and augmentation defaults', () => {
  const a = resolveConfig(req(), fakeDs('mnist', 1, 28, 60000), sizeOf(60000));
  assert.equal(a.recipe, 'digits');
  assert.deepEqual([a.stepsPerEpoch, a.epochs, a.totalSteps, a.warmupSteps], [469, 4, 1876, 235]);
  assert.deepEqual([a.res, a.stem, a.inChans, a.interpolation], [28, 'small', 3, 'none']);
  assert.deepEqual(a.augment, { padCrop: 0, flip: false });
  const b = resolveConfig(
    req({ overrides: { steps: 1000, lr: 0.05, res: 64 }, limitTrain: 1280 }),
    fakeDs('mnist', 1, 28, 60000),
    sizeOf(60000),
  );
  assert.deepEqual([b.stepsPerEpoch, b.epochs, b.totalSteps, b.lr, b.trainSize], [10, 100, 1000, 0.05, 1280]);
  assert.deepEqual([b.res, b.stem, b.interpolation], [64, 'imagenet', 'bilinear']);
  const c = resolveConfig(req({ dataset: 'cifar10' }), fakeDs('cifar10', 3, 32, 50000), sizeOf(50000));
  assert.equal(c.recipe, 'cifar');
  assert.deepEqual(c.augment, { padCrop: 4, flip: true });
  const d = resolveConfig(req({ dataset: 'cifar10', overrides: { augment: false } }), fakeDs('cifar10', 3, 32, 50000), sizeOf(50000));
  assert.deepEqual(d.augment, { padCrop: 0, flip: false });
  const e = resolveConfig(req({ overrides: { augment: true } }), fakeDs('fashion-mnist', 1, 28, 60000), sizeOf(60000));
  assert.deepEqual(e.augment, { padCrop: 2, flip: true });
  assert.throws(
    () => resolveConfig(req({ overrides: { inChans: 1 } }), fakeDs('cifar10', 3, 32, 50000), sizeOf(50000)),
    /--in-chans 1: cifar10 has 3-channel/,
  );
  const q = resolveConfig(req({ recipe: 'quick' }), fakeDs('mnist', 1, 28, 60000), sizeOf(60000));
  assert.deepEqual([q.limitTrain, q.limitVal, q.trainSize, q.totalSteps], [2000, 1000, 2000, 32]);
});

test('top-k: ties go to the lower class index, NaN never scores', () => {
  const l = Float32Array.from([1, 3, 3, 0, NaN, 2]);
  assert.equal(labelRank(l, 0, 6, 1), 1); // the NaN in class 4 counts against
  assert.equal(labelRank(l, 0, 6, 2), 2); // class 1 ties and comes first, plus the NaN
  assert.equal(labelRank(Float32Array.from([1, 3, 3, 0]), 0, 4, 1), 0);
  assert.equal(labelRank(Float32Array.from([1, 3, 3, 0]), 0, 4, 2), 1);
  assert.equal(labelRank(l, 0, 6, 4), 5);
  assert.equal(labelRank(l, 0, 6, 3), 5);
});

test('evaluate: counts top-1/top-5 over batches against a hand count', async () => {
  const classes = 7;
  // the input value x of a sample is its predicted class: class c scores -|c - x|
  const net = {
    net: { numClasses: classes },
    predict: (x: Float32Array, n: number) => {
      const out = new Float32Array(n * classes);
      for (let i = 0; i < n; i++) for (let c = 0; c < classes; c++) out[i * classes + c] = -Math.abs(c - x[i]!);
      return out;
    },
  } as unknown as CompiledNet;
  const xs = [0, 1, 2, 3, 3, 6, 3, 0];
  const ys = [0, 1, 3, 3, 0, 0, 6, 6];
  const batches = [0, 3, 6].map((s) => ({ x: Float32Array.from(xs.slice(s, s + 3)), y: ys.slice(s, s + 3), n: xs.slice(s, s + 3).length }));
  const r = await evaluate(net, batches);
  // ranks: 0,0,2(x2 y3: tie with class 1 lower index),0, (x3,y0: 6), (x6,y0: 6), (x3,y6: 6), (x0,y6: 6)
  assert.equal(r.n, 8);
  assert.equal(r.top1, (100 * 3) / 8);
  assert.equal(r.top5, (100 * 4) / 8);
});

test('evaluate: an empty split is refused naming it; a stream that yields nothing reports NaN, not 0', async () => {
  assert.throws(() => requireSamples(0, 'data/val'), /^UsageError: data\/val: empty split, nothing to evaluate$/);
  assert.throws(() => requireSamples(NaN, 'data/val'), /empty split/);
  requireSamples(1, 'data/val');
  const net = { net: { numClasses: 3 }, predict: () => new Float32Array(0) } as unknown as CompiledNet;
  const r = await evaluate(net, []);
  assert.deepEqual([r.n, r.correct1, r.correct5], [0, 0, 0]);
  assert.ok(Number.isNaN(r.top1) && Number.isNaN(r.top5) && Number.isNaN(r.loss));
});

test('runs.csv: appended row by row with the exact header, NaN for missing accuracies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-runs-'));
  const row: RunRow = {
    model: 'regnetx_002',
    spec: '{"kind":"regnet"}',
    dataset: 'mnist',
    engine: 'torch',
    recipe: 'digits',
    epochs: 1,
    steps: 469,
    batch_size: 128,
    lr: 0.1,
    img_size: 28,
    in_chans: 3,
    stem: 'small',
    seed: 0,
    train_seconds: 12.345,
    images_per_sec: 987.65,
    params: 2319482,
    flops: 15309802,
    acts: 150666,
    final_loss: 0.01234,
    top1: 99.1,
    top5: 100,
    status: 'ok',
    finished_at: '2026-01-01T00:00:00.000Z',
  };
  appendRun(join(dir, 'runs.csv'), row);
  appendRun(join(dir, 'runs.csv'), { ...row, status: 'diverged', top1: NaN, top5: NaN, final_loss: Infinity });
  assert.equal(
    readFileSync(join(dir, 'runs.csv'), 'utf8'),
    'model,spec,dataset,engine,recipe,epochs,steps,batch_size,lr,img_size,in_chans,stem,seed,train_seconds,images_per_sec,params,flops,acts,final_loss,top1,top5,status,finished_at\n' +
      'regnetx_002,"{""kind"":""regnet""}",mnist,torch,digits,1,469,128,0.1,28,3,small,0,12.3,987.6,2319482,15309802,150666,0.0123,99.100,100.000,ok,2026-01-01T00:00:00.000Z\n' +
      'regnetx_002,"{""kind"":""regnet""}",mnist,torch,digits,1,469,128,0.1,28,3,small,0,12.3,987.6,2319482,15309802,150666,inf,nan,nan,diverged,2026-01-01T00:00:00.000Z\n',
  );
});
