import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { complexity } from '../src/arch/complexity.js';
import { GraphBuilder } from '../src/arch/graph.js';
import type { Network } from '../src/arch/ir.js';
import type { WeightMap } from '../src/arch/weights.js';
import { buildModel, zooEntry } from '../src/arch/zoo.js';
import { addWeightsEvalOptions, runWeightsEval, type WeightsEvalOptions } from '../src/cli/eval-imagenet.js';
import { Command } from 'commander';
import { evalPreprocess, IMAGENET_MEAN, IMAGENET_STD, listImageFolder } from '../src/data/folder.js';
import { selectEngine } from '../src/engine/select.js';
import { torchAvailable } from '../src/engine/torch/native.js';
import type { EngineName } from '../src/engine/types.js';
import { loadTimmWeights } from '../src/io/timm-weights.js';
import { evalImageFolder } from '../src/train/eval-folder.js';
import { labelRank } from '../src/train/evaluate.js';
import { parseCsv } from '../src/results/csv.js';
import { timmReference, type TimmReference } from './helpers/fixtures.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const X002 = timmReference('regnetx_002') as TimmReference;
const torch = torchAvailable();
const tmp = tempDirUntilExit('timm-e-');

type RGB = [number, number, number];
const COLOURS: Array<[string, RGB]> = [
  ['0_red', [255, 0, 0]],
  ['1_green', [0, 255, 0]],
  ['2_blue', [0, 0, 255]],
  ['3_yellow', [255, 255, 0]],
  ['4_cyan', [0, 255, 255]],
  ['5_magenta', [255, 0, 255]],
  ['6_white', [255, 255, 255]],
];

async function solid(path: string, [r, g, b]: RGB, w: number, h: number): Promise<void> {
  const img = sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } });
  await (path.endsWith('.png') ? img.png() : img.jpeg({ quality: 95 })).toFile(path);
}

/**
 * 7 colour classes, two correct images each (PNG and JPEG, different sizes and aspect ratios), plus
 * orange filed under red (nearest colour yellow, red second: top-1 miss, top-5 hit) and pure green filed
 * under magenta (magenta is the farthest colour: miss in both). Expected: top1 14/16, top5 15/16.
 */
async function makeColourFolder(dir: string): Promise<void> {
  for (const [name, rgb] of COLOURS) {
    mkdirSync(join(dir, name), { recursive: true });
    await solid(join(dir, name, 'a.png'), rgb, 50, 40);
    await solid(join(dir, name, 'b.jpg'), rgb, 40, 64);
  }
  await solid(join(dir, '0_red', 'orange.png'), [255, 160, 0], 45, 45);
  await solid(join(dir, '5_magenta', 'green.jpeg'), [0, 255, 0], 70, 30);
}

/** input -> global average pool -> fc: logits are an affine function of the per-channel means. */
function meanNet(size: number, numClasses: number): Network {
  const g = new GraphBuilder();
  const x = g.input([3, size, size]);
  const out = g.fc('fc', g.gap(x), numClasses);
  return {
    name: 'mean_net',
    family: 'anynet',
    spec: zooEntry('regnetx_002').spec,
    inChans: 3,
    numClasses,
    res: [size, size],
    stem: 'small',
    nodes: g.nodes,
    output: out,
    stages: [],
  };
}

/**
 * Nearest-centroid classifier in normalised space: -|m - c_k|^2 = 2 c_k.m - |c_k|^2 - |m|^2, and the
 * last term is the same for every class, so logits 2 c_k.m - |c_k|^2 rank classes by distance.
 */
function nearestColourWeights(): WeightMap {
  const k = COLOURS.length;
  const w = new Float32Array(k * 3);
  const b = new Float32Array(k);
  COLOURS.forEach(([, rgb], i) => {
    for (let c = 0; c < 3; c++) {
      const v = (rgb[c]! / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
      w[i * 3 + c] = 2 * v;
      b[i] = b[i]! - v * v;
    }
  });
  return new Map([
    ['fc.weight', { shape: [k, 3], data: w }],
    ['fc.bias', { shape: [k], data: b }],
  ]);
}

const folder = join(tmp, 'colours');
const ready = makeColourFolder(folder);

for (const engine of ['wasm', 'torch'] as EngineName[]) {
  test(
    `evalImageFolder (${engine}): nearest-colour net on PNG/JPEG folders gives top1 87.5, top5 93.75`,
    { skip: engine === 'torch' && !torch.ok && 'torch addon unavailable' },
    async () => {
      await ready;
      const e = await selectEngine(engine, { threads: 2 });
      const net = meanNet(32, COLOURS.length);
      const c = e.compile(net, nearestColourWeights());
      try {
        const seen: number[] = [];
        const r = await evalImageFolder({
          model: c,
          dataDir: folder,
          imgSize: 32,
          cropPct: 0.875,
          interpolation: 'bicubic',
          mean: IMAGENET_MEAN,
          std: IMAGENET_STD,
          batch: 5,
          onProgress: (d) => seen.push(d),
        });
        assert.equal(r.n, 16);
        assert.equal(r.correct1, 14);
        assert.equal(r.correct5, 15);
        assert.equal(r.top1, 87.5);
        assert.equal(r.top5, 93.75);
        assert.deepEqual(
          r.classes,
          COLOURS.map(([n]) => n),
        );
        assert.deepEqual(seen, [5, 10, 15, 16]);
        // --limit: the first 4 listed images are red's (a.png, b.jpg, orange.png) and green's a.png
        const lim = await evalImageFolder({
          model: c,
          dataDir: folder,
          imgSize: 32,
          cropPct: 0.875,
          interpolation: 'bilinear',
          mean: IMAGENET_MEAN,
          std: IMAGENET_STD,
          batch: 3,
          limit: 4,
        });
        assert.deepEqual([lim.n, lim.correct1, lim.correct5], [4, 3, 4]);
      } finally {
        c.dispose();
      }
    },
  );
}

test('evalImageFolder applies the given mean/std and checks resolution and class count', async () => {
  const dir = join(tmp, 'gray');
  mkdirSync(join(dir, 'only'), { recursive: true });
  await solid(join(dir, 'only', 'g.png'), [128, 128, 128], 40, 40);
  const e = await selectEngine('wasm');
  // logit 0 = normalised red mean, logit 1 = 0: class 0 wins iff (128/255 - mean) / std > 0
  const net = meanNet(16, 2);
  const c = e.compile(
    net,
    new Map([
      ['fc.weight', { shape: [2, 3], data: Float32Array.from([1, 0, 0, 0, 0, 0]) }],
      ['fc.bias', { shape: [2], data: new Float32Array(2) }],
    ]),
  );
  const base = { model: c, dataDir: dir, imgSize: 16, cropPct: 1, interpolation: 'bilinear' as const, std: IMAGENET_STD, batch: 4 };
  assert.equal((await evalImageFolder({ ...base, mean: IMAGENET_MEAN })).top1, 100); // 0.502 > 0.485
  assert.equal((await evalImageFolder({ ...base, mean: [0.6, 0.6, 0.6] })).top1, 0);
  await assert.rejects(evalImageFolder({ ...base, mean: IMAGENET_MEAN, imgSize: 32 }), /built for 16x16 but --img-size is 32/);
  await ready;
  await assert.rejects(evalImageFolder({ ...base, mean: IMAGENET_MEAN, dataDir: folder }), /7 class folders but the model has 2 outputs/);
  c.dispose();
});

test('evalImageFolder: an empty split is refused naming the folder; a network that outputs NaN scores nothing', async () => {
  const dir = join(tmp, 'nan');
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  await solid(join(dir, 'a', 'x.png'), [10, 20, 30], 20, 20);
  await solid(join(dir, 'b', 'y.png'), [200, 20, 30], 20, 20);
  const e = await selectEngine('wasm');
  // 7 outputs, so a top-5 miss is possible
  const c = e.compile(
    meanNet(16, 7),
    new Map([
      ['fc.weight', { shape: [7, 3], data: new Float32Array(21) }],
      ['fc.bias', { shape: [7], data: new Float32Array(7).fill(NaN) }],
    ]),
  );
  const base = {
    model: c,
    dataDir: dir,
    imgSize: 16,
    cropPct: 1,
    interpolation: 'bilinear' as const,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    batch: 4,
  };
  try {
    const r = await evalImageFolder(base);
    assert.deepEqual([r.n, r.correct1, r.correct5, r.top1, r.top5], [2, 0, 0, 0, 0]);
    await assert.rejects(
      evalImageFolder({ ...base, limit: 0 }),
      (err: Error) => err.message === `${dir}: empty split, nothing to evaluate`,
    );
  } finally {
    c.dispose();
  }
});

test('labelRank: strictly larger logits, then ties at a smaller index', () => {
  const l = Float32Array.from([0, 1, 3, 3, 2, /* row 2 */ 5, 5, 5, 5, 5]);
  assert.equal(labelRank(l, 0, 5, 2), 0);
  assert.equal(labelRank(l, 0, 5, 3), 1);
  assert.equal(labelRank(l, 0, 5, 4), 2);
  assert.equal(labelRank(l, 0, 5, 0), 4);
  assert.equal(labelRank(l, 5, 5, 4), 4);
});

test('runWeightsEval: regnetx_002 checkpoint at 32 px, batched; row merged in timm format and equal to per-image predictions', async () => {
  await ready;
  const resultsDir = join(tmp, 'results');
  const opts: WeightsEvalOptions = {
    weights: X002.weights,
    dataDir: folder,
    imgSize: 32,
    cropPct: 0.875,
    interpolation: 'bicubic',
    batch: 6,
    resultsDir,
    resultsName: 'imagenet',
    results: true,
    strict: true,
    engine: 'wasm',
    progress: 'plain',
  };
  const out: string[] = [];
  const rep = await runWeightsEval('regnetx_002', opts, (t) => out.push(t));
  assert.equal(rep.n, 16);
  assert.equal(rep.params, 2684792);
  assert.match(
    out.join(''),
    /^regnetx_002 @32 crop 0.875 bicubic: top1 \d+\.\d{3}% top5 \d+\.\d{3}% \(16 images, 7 classes, .* on wasm\); merged into /,
  );

  // independent path: one image at a time through evalPreprocess and a separately compiled net
  // at 32 px the default stem is the small one (the shared rule), as in runWeightsEval
  const net = buildModel('regnetx_002', { res: 32, stem: 'small' });
  const e = await selectEngine('wasm');
  const c = e.compile(net, loadTimmWeights(opts.weights, net).weights);
  const list = listImageFolder(folder);
  let c1 = 0,
    c5 = 0;
  for (let i = 0; i < list.files.length; i++) {
    const x = await evalPreprocess(list.files[i]!, { imgSize: 32, cropPct: 0.875, interpolation: 'bicubic' });
    const logits = Array.from(c.predict(x, 1));
    const label = list.labels[i]!;
    const rank = logits.filter((v, j) => v > logits[label]! || (v === logits[label]! && j < label)).length;
    if (rank < 1) c1++;
    if (rank < 5) c5++;
  }
  c.dispose();
  assert.equal(rep.correct1, c1);
  assert.equal(rep.correct5, c5);

  // 7 class folders for a 1000-class model: a subset, never the plain results-imagenet.csv
  assert.equal(existsSync(join(resultsDir, 'results-imagenet.csv')), false);
  assert.equal(rep.resultsFile, join(resultsDir, 'results-imagenet-subset-7c.csv'));
  const csv = readFileSync(join(resultsDir, 'results-imagenet-subset-7c.csv'), 'utf8').trim().split('\n');
  assert.ok(
    csv[0]!.startsWith('model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,flops,acts,infer_samples_per_sec,'),
  );
  const t1 = (100 * c1) / 16,
    t5 = (100 * c5) / 16;
  assert.ok(
    csv[1]!.startsWith(
      `regnetx_002,32,${t1.toFixed(3)},${(100 - t1).toFixed(3)},${t5.toFixed(3)},${(100 - t5).toFixed(3)},2.68,0.875,bicubic,`,
    ),
    csv[1],
  );
  // flops and inference throughput of the evaluated network, the weights file where a recipe would be, the subset's size
  const [row] = parseCsv(csv.join('\n'), 'results');
  assert.equal(row!.flops, String(complexity(net).flops));
  assert.ok(Number(row!.infer_samples_per_sec) > 0);
  assert.deepEqual(
    [row!.stem, row!.in_chans, row!.recipe, row!.engine, row!.n_images],
    ['small', '3', `weights=${basename(opts.weights)}`, 'wasm', '16'],
  );

  // --limit evaluates a prefix and leaves the results alone; --results-name picks the file
  const lim = await runWeightsEval('regnetx_002', { ...opts, limit: 3, resultsName: 'colours' }, (t) => out.push(t));
  assert.equal(lim.n, 3);
  assert.equal(existsSync(join(resultsDir, 'results-colours-subset-7c.csv')), false);
  await runWeightsEval('regnetx_002', { ...opts, resultsName: 'colours', json: true }, (t) => out.push(t));
  assert.equal(readFileSync(join(resultsDir, 'results-colours-subset-7c.csv'), 'utf8').trim().split('\n').length, 2);
  const j = JSON.parse(out.at(-1)!) as { model: string; n: number; num_classes: number };
  assert.deepEqual([j.model, j.n, j.num_classes], ['regnetx_002', 16, 7]);
});

test('runWeightsEval: usage errors for a bad folder, results name or mean', async () => {
  const base: WeightsEvalOptions = {
    weights: X002.weights,
    dataDir: join(tmp, 'nope'),
    imgSize: 32,
    cropPct: 0.875,
    interpolation: 'bicubic',
    batch: 6,
    resultsDir: tmp,
    resultsName: 'imagenet',
    results: true,
    strict: true,
    engine: 'wasm',
  };
  await assert.rejects(runWeightsEval('regnetx_002', base), /image folder does not exist/);
  await assert.rejects(runWeightsEval('regnetx_002', { ...base, resultsName: '../x' }), /--results-name/);
  await assert.rejects(runWeightsEval('regnetx_002', { ...base, mean: [0.1, 0.2] }), /--mean: give 1 or 3 values/);
});

test('addWeightsEvalOptions adds only the flags a command lacks (regnet eval has --batch-size, --results-dir, --progress)', () => {
  const cmd = new Command('eval')
    .exitOverride()
    .argument('[model]')
    .option('--batch-size <n>', 'b', Number)
    .option('--results-dir <dir>', 'r')
    .option('--progress <mode>', 'p', 'auto')
    .option('--engine <e>', 'e', 'auto');
  addWeightsEvalOptions(cmd);
  const longs = cmd.options.map((o) => o.long);
  assert.equal(new Set(longs).size, longs.length, 'no duplicate flags');
  assert.ok(!longs.includes('--batch'));
  for (const f of [
    '--weights',
    '--data-dir',
    '--img-size',
    '--crop-pct',
    '--interpolation',
    '--mean',
    '--std',
    '--results-name',
    '--strict',
    '--num-classes',
  ])
    assert.ok(longs.includes(f), f);
  cmd.parse(
    [
      'm',
      '--weights',
      'w.safetensors',
      '--data-dir',
      'd',
      '--mean',
      '0.5',
      '0.4',
      '0.3',
      '--std',
      '0.2,0.2,0.2',
      '--batch-size',
      '8',
      '--strict',
      'false',
    ],
    { from: 'user' },
  );
  const o = cmd.opts();
  assert.deepEqual(
    [o.mean, o.std, o.batchSize, o.strict, o.imgSize, o.cropPct, o.interpolation, o.resultsName, o.results],
    [[0.5, 0.4, 0.3], [0.2, 0.2, 0.2], 8, false, 224, 0.875, 'bicubic', 'imagenet', true],
  );
  const fresh = addWeightsEvalOptions(new Command('e').exitOverride().configureOutput({ writeErr: () => undefined }));
  assert.ok(fresh.options.some((x) => x.long === '--batch') && fresh.options.some((x) => x.long === '--progress'));
  assert.throws(() => fresh.parse(['--interpolation', 'lanczos'], { from: 'user' }), /--interpolation must be one of bicubic, bilinear/);
});
