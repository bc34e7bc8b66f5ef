/**
 * RandAugment (`--aa`, src/data/randaugment.ts): timm's string form parsed as timm parses it, bad strings
 * refused on one line; every op bit for bit against Debian's Pillow (test/fixtures/randaug_reference.py,
 * fixed arguments, crops of scikit-image's sample photographs); timm's magnitude -> argument levels; the
 * seeded draws; and RandAugment inside the image-file loader, the in-memory pipeline and a training run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadBatches } from '../src/data/loader.js';
import { BatchPipeline } from '../src/data/pipeline.js';
import {
  applyOp,
  canonicalAa,
  drawOps,
  fillFromMean,
  levelArg,
  parseRandAugment,
  randAugment,
  RAND_INCREASING_OPS,
  RAND_OPS,
  randAugmentName,
  smooth,
  type Planar8,
  type RandOp,
} from '../src/data/randaugment.js';
import { timmTrainTransform, trainCropBytes, type ImageTransform } from '../src/data/transforms.js';
import { resolveConfig } from '../src/train/config.js';
import { describeRecipe } from '../src/train/results-row.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { FIXTURES, findPython, trainEngine } from './helpers/fixtures.js';
import { runInProcess } from './helpers/in-process.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('randaug-test-');
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

test("timm's string form: sections in any order, defaults, canonical name", () => {
  const c = parseRandAugment('rand-m9-mstd0.5');
  assert.deepEqual(
    { m: c.magnitude, n: c.numLayers, p: c.prob, std: c.magnitudeStd, max: c.magnitudeMax, inc: c.increasing },
    { m: 9, n: 2, p: 0.5, std: 0.5, max: 0, inc: false },
  );
  const d = parseRandAugment('rand-inc1-mstd1.0-n3-p0.7-mmax12-m15');
  assert.deepEqual([d.magnitude, d.numLayers, d.prob, d.magnitudeStd, d.magnitudeMax, d.increasing], [15, 3, 0.7, 1, 12, true]);
  assert.equal(randAugmentName(d), 'rand-m15-n3-p0.7-mstd1-mmax12-inc1');
  // defaults: magnitude 10, 2 ops, p 0.5; mstd > 100 means uniform magnitudes
  assert.equal(randAugmentName(parseRandAugment('rand')), 'rand-m10');
  assert.equal(parseRandAugment('rand-m9-mstd101').magnitudeStd, Infinity);
  assert.equal(canonicalAa('rand-mstd0.50-m9-n2-p0.5'), 'rand-m9-mstd0.5');
  assert.equal(canonicalAa('none'), undefined);
});

test('bad strings: one-line UsageError naming the allowed form', () => {
  for (const [bad, why] of [
    ['auto-v0', /must start with 'rand'/],
    ['rand-m9.5', /m must be an integer/],
    ['rand-m9-m8', /'m' is given twice/],
    ['rand-x3', /unknown section 'x3'/],
    ['rand-m', /not a key followed by a number/],
    ['rand--m9', /not a key followed by a number/],
    ['rand-inc0', /inc takes 1/],
    ['rand-p1.5', /p must be in \[0, 1\]/],
    ['rand-n99', /n must be at most 16/],
    ['rand-m9-tweights', /not a key followed by a number/],
  ] as const) {
    assert.throws(
      () => parseRandAugment(bad),
      (e: unknown) => {
        assert.ok(e instanceof UsageError, bad);
        assert.match(e.message, why, bad);
        assert.match(e.message, /^--aa: .*allowed: rand-m<int>/, bad);
        assert.ok(!e.message.includes('\n'));
        return true;
      },
    );
  }
});

test("levels at magnitude 9 and 10 are timm's (rotate 3 deg per step, shear 0.03, translate 4.5%, ...)", () => {
  // a generator whose first uniform draw is <= 0.5, so the random sign keeps the value positive
  const keep = () => {
    for (let s = 0; ; s++) {
      const r = new Rng(s);
      if (r.next() <= 0.5) return new Rng(s);
    }
  };
  const at = (op: RandOp, m: number) => levelArg(op, m, keep());
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(at('Rotate', 9), 27);
  close(at('ShearX', 9), 0.27);
  close(at('TranslateYRel', 9), 0.405);
  close(at('Color', 9), 1.72);
  close(at('Sharpness', 10), 1.9);
  close(at('BrightnessIncreasing', 9), 1.81);
  assert.equal(at('Posterize', 9), 3); // int(3.6)
  assert.equal(at('PosterizeIncreasing', 9), 1);
  assert.equal(at('Solarize', 9), 230); // int(230.4)
  assert.equal(at('SolarizeIncreasing', 9), 26);
  assert.equal(at('SolarizeAdd', 9), 99);
  assert.equal(at('Solarize', 10), 256);
  // the sign: about half of the draws negate
  const rng = new Rng(5);
  let neg = 0;
  for (let i = 0; i < 4000; i++) if (levelArg('Rotate', 10, rng) < 0) neg++;
  assert.ok(neg > 1850 && neg < 2150, `negated ${neg} of 4000`);
  // the increasing enhancements stay >= 0.1
  assert.equal(Math.min(...Array.from({ length: 200 }, () => levelArg('ContrastIncreasing', 10, rng))), 0.1);
  assert.equal(RAND_OPS.length, 15);
  assert.equal(RAND_INCREASING_OPS.length, 15);
  assert.deepEqual(fillFromMean(IMAGENET_MEAN, 3), [124, 116, 104]);
  assert.deepEqual(fillFromMean([0.5], 1), [128]); // 127.5 rounds half to even
});

test('draws: n ops with replacement, each applied with probability p, magnitudes noised and clipped', () => {
  const rng = new Rng(11);
  const cfg = parseRandAugment('rand-m9-n3-p0.5-mstd0.5');
  let applied = 0;
  const seen = new Set<string>();
  const N = 3000;
  for (let i = 0; i < N; i++) {
    const ops = drawOps(cfg, rng);
    applied += ops.length;
    for (const o of ops) seen.add(o.op);
  }
  assert.ok(Math.abs(applied / (3 * N) - 0.5) < 0.03, `applied ${applied / (3 * N)}`);
  assert.equal(seen.size, 15);
  // magnitude noise: rotate angles spread around 27, clipped at 30 (magnitude <= 10)
  const rot = parseRandAugment('rand-m9-n1-p1.0-mstd0.5');
  const angles: number[] = [];
  for (let i = 0; angles.length < 2000; i++) for (const o of drawOps(rot, rng)) if (o.op === 'Rotate') angles.push(Math.abs(o.arg));
  const mean = angles.reduce((a, b) => a + b, 0) / angles.length;
  // E[min(9 + 0.5 z, 10)] * 3 = 3 * (9 - 0.5 * (phi(2) - 2 * (1 - Phi(2)))) = 26.987; the sample's sd is 1.5 / sqrt(2000)
  assert.ok(Math.abs(mean - 26.987) < 0.15, `mean |angle| ${mean}`);
  assert.ok(Math.max(...angles) <= 30 && angles.some((a) => a === 30) && angles.some((a) => a < 27));
  // mmax lifts the clip; the uniform mode (mstd > 100) spans [0, m]
  const big = drawOps(parseRandAugment('rand-m20-n16-p1.0-mmax20'), new Rng(1)).filter((o) => o.op === 'Rotate');
  for (const o of big) assert.equal(Math.abs(o.arg), 60);
  // p1.0: every op runs, the same seed gives the same ops
  const a = drawOps(parseRandAugment('rand-m9-n4-p1.0'), new Rng(3));
  assert.equal(a.length, 4);
  assert.deepEqual(drawOps(parseRandAugment('rand-m9-n4-p1.0'), new Rng(3)), a);
});

// ---------------------------------------------------------------------------------------------------
// every op against Pillow

const CASES: Array<{ op: string; arg: number }> = [
  { op: 'AutoContrast', arg: 0 },
  { op: 'Equalize', arg: 0 },
  { op: 'Invert', arg: 0 },
  { op: 'Smooth', arg: 0 },
  ...[0, 1, 3, 4, 8].map((arg) => ({ op: 'Posterize', arg })),
  ...[0, 26, 128, 230, 256].map((arg) => ({ op: 'Solarize', arg })),
  ...[0, 44, 99, 110].map((arg) => ({ op: 'SolarizeAdd', arg })),
  ...['Color', 'Contrast', 'Brightness', 'Sharpness'].flatMap((op) => [0, 0.1, 0.37, 1, 1.81, 1.72, 1.9].map((arg) => ({ op, arg }))),
  ...[0, 27, -27, 13.37, -30, 90, 180, 270, 45].map((arg) => ({ op: 'Rotate', arg })),
  ...['ShearX', 'ShearY'].flatMap((op) => [0, 0.27, -0.27, 0.3, -0.113].map((arg) => ({ op, arg }))),
  ...['TranslateXRel', 'TranslateYRel'].flatMap((op) => [0, 0.405, -0.405, 0.45, -0.1234].map((arg) => ({ op, arg }))),
];

const python = findPython(['PIL']);
let pilSkip: string | false = python ? false : 'needs python3 with PIL (optional: apt-get install python3-pil)';
const refDir = join(tmp, 'pil');
if (python) {
  const r = spawnSync(python, [join(FIXTURES, 'randaug_reference.py'), refDir, JSON.stringify(CASES)], { encoding: 'utf8' });
  if (r.status === 3) pilSkip = r.stderr.trim();
  else if (r.status !== 0) throw new Error(`randaug_reference.py failed: ${r.stderr}`);
}

const planarOf = (hwc: Uint8Array, w: number, h: number, c: number) => {
  const o = new Uint8Array(w * h * c);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < c; k++) o[k * w * h + i] = hwc[i * c + k]!;
  return o;
};

test('every op equals Pillow bit for bit (RGB and grey images, odd sizes, fill = ImageNet mean)', { skip: pilSkip }, () => {
  const ref = JSON.parse(readFileSync(join(refDir, 'ref.json'), 'utf8')) as {
    images: Array<{ name: string; mode: string; width: number; height: number; offset: number }>;
    cases: Array<{ image: string; op: string; arg: number; offset: number }>;
  };
  const bin = readFileSync(join(refDir, 'ref.bin'));
  const images = new Map<string, Planar8>();
  for (const im of ref.images) {
    const c = im.mode === 'L' ? 1 : 3;
    const data = planarOf(bin.subarray(im.offset, im.offset + im.width * im.height * c), im.width, im.height, c);
    images.set(im.name, { data, channels: c, width: im.width, height: im.height });
  }
  assert.equal(images.size, 6);
  assert.equal(ref.cases.length, CASES.length * images.size);
  const failures: string[] = [];
  let changed = 0;
  for (const cs of ref.cases) {
    const img = images.get(cs.image)!;
    const fill = img.channels === 1 ? fillFromMean(IMAGENET_MEAN, 1) : fillFromMean(IMAGENET_MEAN, 3);
    const got = cs.op === 'Smooth' ? smooth(img) : applyOp(img, cs.op as RandOp, cs.arg, fill).data;
    const want = planarOf(bin.subarray(cs.offset, cs.offset + img.data.length), img.width, img.height, img.channels);
    let n = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) n++;
    if (n) failures.push(`${cs.image} ${cs.op}(${cs.arg}): ${n} bytes differ`);
    if (want.some((v, i) => v !== img.data[i])) changed++;
  }
  assert.deepEqual(failures, []);
  // the comparison means something: most cases change the image
  assert.ok(changed > ref.cases.length * 0.7, `${changed} of ${ref.cases.length} cases change the image`);
});

// ---------------------------------------------------------------------------------------------------
// in the pipelines

/** A JPEG of seeded noise with some structure. */
async function photo(path: string, w: number, h: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) raw[(y * w + x) * 3 + c] = Math.min(255, ((x * (c + 1) * 4 + y * 3) % 200) + rng.int(0, 55));
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(path);
}

test('image files: RandAugment runs on the crop after the flip, from the sample seed, the same in any worker', async () => {
  const dir = join(tmp, 'files');
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < 6; i++) {
    files.push(join(dir, `p${i}.jpg`));
    await photo(files[i]!, 40 + 3 * i, 30 + 2 * i, i);
  }
  const config = parseRandAugment('rand-m9-n3-p1.0-mstd0.5');
  const fill = fillFromMean(IMAGENET_MEAN, 3);
  const plain = timmTrainTransform(24, IMAGENET_MEAN, IMAGENET_STD);
  const t = { ...plain, randAugment: { config, fill } };
  for (let i = 0; i < files.length; i++) {
    const seed = 1000 + i;
    const crop = await trainCropBytes(files[i]!, plain, seed);
    const want = randAugment({ data: crop, channels: 3, height: 24, width: 24 }, config, seed, fill).data;
    assert.deepEqual(await trainCropBytes(files[i]!, t, seed), want);
    assert.notDeepEqual(want, crop);
  }
  // the loader with 0 and 2 workers: identical batches
  const plans = () =>
    [0, 1].map((b) => ({ files: files.slice(3 * b, 3 * b + 3), labels: new Int32Array(3), seeds: Uint32Array.of(7 + b, 8, 9 + b) }));
  const collect = async (workers: number, transform: ImageTransform) => {
    const out: Float32Array[] = [];
    for await (const b of loadBatches(plans(), { transform, maxBatch: 3, workers })) out.push(b.x.slice());
    return out;
  };
  const a = await collect(0, t);
  assert.deepEqual(await collect(2, t), a);
  assert.notDeepEqual(await collect(0, plain), a);
  // without crop augmentation (the eval-style resize + centre crop), RandAugment still applies
  const evalT: ImageTransform = {
    kind: 'eval',
    imgSize: 24,
    cropPct: 1,
    interpolation: 'bilinear',
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  };
  assert.notDeepEqual(await collect(0, { ...evalT, randAugment: { config, fill } }), await collect(0, evalT));
});

test('in-memory datasets: RandAugment after the padded crop and flip, seeded per step', () => {
  const C = 3,
    H = 12,
    W = 10,
    n = 8;
  const rng = new Rng(2);
  const images = Uint8Array.from({ length: n * C * H * W }, () => rng.int(0, 255));
  const split = { images, labels: new Int32Array(n), n };
  const geom = { channels: C, height: H, width: W };
  const base = { batchSize: 4, seed: 5, mean: [0.5, 0.4, 0.3], std: [0.25, 0.25, 0.25] };
  const withAa = (aa: string, augment = { padCrop: 2, flip: true }) =>
    new BatchPipeline(split, geom, { ...base, augment, randAugment: parseRandAugment(aa) });
  // p0: no op ever runs, so the crop/flip bytes path equals the plain pipeline's
  const plain = new BatchPipeline(split, geom, { ...base, augment: { padCrop: 2, flip: true } });
  assert.deepEqual(withAa('rand-m9-p0').batch(1, 1).x, plain.batch(1, 1).x);
  // without crop and flip: each sample is RandAugment of its own bytes with the seeds of Rng(seed, aa:e:s)
  const p = withAa('rand-m9-n2-p1.0-mstd0.5', { padCrop: 0, flip: false });
  const b = p.batch(2, 1);
  assert.deepEqual(p.batch(2, 1).x, b.x);
  const seeds = Rng.derive(5, 'aa:2:1');
  const fill = fillFromMean(base.mean, 3);
  const per = C * H * W;
  for (let i = 0; i < b.n; i++) {
    const idx = b.indices[i]!;
    const img = { data: images.slice(idx * per, (idx + 1) * per), channels: C, height: H, width: W };
    const out = randAugment(img, parseRandAugment('rand-m9-n2-p1.0-mstd0.5'), seeds.nextU32(), fill).data;
    for (let j = 0; j < per; j++) {
      const c = Math.floor(j / (H * W));
      const want = Math.fround(out[j]! * (1 / (255 * base.std[c]!)) + -base.mean[c]! / base.std[c]!);
      assert.ok(Math.abs(b.x[i * per + j]! - want) < 1e-6);
    }
  }
  // grey images replicated to 3 input channels: RandAugment on the one plane (fill = the grey mean), then copied
  const grey = new BatchPipeline(
    { images: images.slice(0, n * H * W), labels: new Int32Array(n), n },
    { channels: 1, height: H, width: W },
    {
      ...base,
      mean: [0.5],
      std: [0.25],
      inChans: 3,
      augment: { padCrop: 1, flip: true },
      randAugment: parseRandAugment('rand-m9-n2-p1.0'),
    },
  );
  const g = grey.batch(0, 0);
  assert.deepEqual(grey.batch(0, 0).x, g.x);
  const plane = H * W;
  assert.deepEqual(g.x.subarray(0, plane), g.x.subarray(plane, 2 * plane));
  const greyPlain = new BatchPipeline(
    { images: images.slice(0, n * H * W), labels: new Int32Array(n), n },
    { channels: 1, height: H, width: W },
    { ...base, mean: [0.5], std: [0.25], inChans: 3, augment: { padCrop: 1, flip: true } },
  );
  assert.notDeepEqual(greyPlain.batch(0, 0).x, g.x);
});

test('config: --aa and the recipe field resolve to the canonical string; the recipe label names it', async () => {
  const ds = {
    name: 'cifar10',
    train: { images: new Uint8Array(3 * 32 * 32 * 4), labels: new Int32Array(4), n: 4 },
    test: { images: new Uint8Array(3 * 32 * 32 * 4), labels: new Int32Array(4), n: 4 },
    numClasses: 10,
    channels: 3,
    height: 32,
    width: 32,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
  };
  const req = (overrides: object, recipe?: string) => ({
    model: { name: 'x', spec: { kind: 'resnet' as const, block: 'basic' as const, layers: [1] } },
    dataset: 'cifar10',
    engine: 'auto' as const,
    seed: 0,
    recipe,
    overrides,
  });
  const cfg = resolveConfig(req({ aa: 'rand-mstd0.5-m9' }), ds, () => 4);
  assert.equal(cfg.aa, 'rand-m9-mstd0.5');
  const plain = resolveConfig(req({}), ds, () => 4);
  assert.equal(plain.aa, undefined);
  assert.equal(describeRecipe(cfg, plain), 'cifar[aa=rand-m9-mstd0.5]');
  // a recipe file with aa; --aa none and --no-augment turn it off
  const rf = join(tmp, 'ra.json');
  writeFileSync(rf, JSON.stringify({ epochs: 1, batchSize: 4, lr: 0.1, weightDecay: 0, aa: 'rand-m7-n1' }));
  assert.equal(resolveConfig(req({}, rf), ds, () => 4).aa, 'rand-m7-n1');
  assert.equal(resolveConfig(req({ aa: 'none' }, rf), ds, () => 4).aa, undefined);
  assert.equal(resolveConfig(req({ augment: false }, rf), ds, () => 4).aa, undefined);
  writeFileSync(rf, JSON.stringify({ epochs: 1, batchSize: 4, lr: 0.1, weightDecay: 0, aa: 'rand-m9-q3' }));
  assert.throws(() => resolveConfig(req({}, rf), ds, () => 4), /recipe .*ra\.json: aa: .*unknown section 'q3'/);
  assert.throws(() => resolveConfig(req({ aa: 'rand-inc0' }), ds, () => 4), /overrides: aa: .*inc takes 1/);
});

test('regnet train --aa on an ImageNet-layout folder: trains, and the results row names the policy', async () => {
  const root = join(tmp, 'imagenet');
  const wnids = ['n01440764', 'n02102040'];
  for (const split of ['train', 'val'])
    for (const [c, w] of wnids.entries()) {
      mkdirSync(join(root, split, w), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 4 : 2); i++) await photo(join(root, split, w, `${w}_${i}.JPEG`), 36 + i, 28 + c, 10 * c + i);
    }
  const res = join(tmp, 'results');
  const common = ['--dataset', 'imagenet', '--data-dir', root, '--img-size', '32', '--batch-size', '4', '--no-bench', '--progress', 'none'];
  const bad = await runInProcess(['train', 'resnet18', ...common, '--aa', 'rand-m9-mstd'], tmp);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^regnet: error: .*--aa: 'rand-m9-mstd': section 'mstd' is not a key followed by a number.*allowed: rand-m<int>/,
  );
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  const tiny = ['--depth', '4', '--w0', '8', '--wa', '8', '--wm', '2', '--group-size', '8'];
  const r = await runInProcess(
    [
      'train',
      ...tiny,
      ...common,
      '--steps',
      '2',
      '--engine',
      trainEngine(),
      '--threads',
      '1',
      '--aa',
      'rand-m9-mstd0.5',
      '--results-dir',
      res,
    ],
    tmp,
  );
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(res).filter((f) => f.startsWith('results-imagenet'));
  assert.equal(files.length, 1);
  const text = readFileSync(join(res, files[0]!), 'utf8');
  assert.match(text, /"imagenet\[[^\]]*,aa=rand-m9-mstd0\.5\]"/);
});
