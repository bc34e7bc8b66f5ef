/**
 * ImageNet as a dataset: labels from the 1000 sorted wnids (or a timm class map), whichever folders are
 * present; an unknown folder is a one-line error; seeded batch plans; timm's RandomResizedCrop search.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FilePipeline } from '../src/data/file-pipeline.js';
import { imagenetClasses } from '../src/data/imagenet-classes.js';
import { imagenetLabelSet, labelSetForFolders, readClassMap } from '../src/data/labels.js';
import { resolveFileDataset } from '../src/data/resolve.js';
import { randomResizedCropBox } from '../src/data/transforms.js';
import { resultsTarget } from '../src/results/subset.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('imagenet-test-');

// three classes spread over the list: tench (0), a dog (217), and a chain saw (491)
const WNIDS = ['n01440764', 'n02102040', 'n03000684'];

async function jpeg(path: string, w: number, h: number, rgb: [number, number, number]): Promise<void> {
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .jpeg()
    .toFile(path);
}

async function makeImageNet(root: string, wnids: string[], perClass: { train: number; val: number }): Promise<void> {
  for (const split of ['train', 'val'] as const) {
    for (const [c, w] of wnids.entries()) {
      const d = join(root, split, w);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < perClass[split]; i++) await jpeg(join(d, `${w}_${i}.JPEG`), 20 + i, 16 + c, [40 * c, 100, 200 - 40 * c]);
    }
  }
}

test("labels are the wnids' indices in the 1000 sorted synsets, not the position of the folders present", async () => {
  const root = join(tmp, 'three');
  await makeImageNet(root, WNIDS, { train: 2, val: 1 });
  const synsets = imagenetClasses().synsets;
  const want = WNIDS.map((w) => synsets.indexOf(w));
  assert.deepEqual(want, [0, 217, 491]);
  const ds = resolveFileDataset('imagenet', root, { imgSize: 32 });
  assert.equal(ds.numClasses, 1000);
  assert.deepEqual([...ds.train!.labels], [0, 0, 217, 217, 491, 491]);
  assert.deepEqual([...ds.test.labels], want);
  assert.deepEqual([ds.train!.classesPresent, ds.test.classesPresent, ds.height, ds.width], [3, 3, 32, 32]);
  assert.equal(imagenetLabelSet().classes.length, 1000);
});

test('an unknown class folder is a one-line UsageError; a class map relabels; no val split is refused', async () => {
  const root = join(tmp, 'odd');
  await makeImageNet(root, [WNIDS[0]!, 'n99999999'], { train: 1, val: 1 });
  assert.throws(
    () => resolveFileDataset('imagenet', root),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /n99999999: class folder 'n99999999' is not one of the 1000 ImageNet classes .*--class-map/);
      assert.ok(!e.message.includes('\n'));
      return true;
    },
  );
  // timm's class-map format: line k names class k
  const map = join(tmp, 'map.txt');
  writeFileSync(map, `n99999999\n${WNIDS[0]}\nsomething_else\n\n`);
  const ds = resolveFileDataset('imagenet', root, { classMap: map });
  assert.equal(ds.numClasses, 3);
  assert.deepEqual([...ds.train!.labels], [1, 0]);
  writeFileSync(join(tmp, 'dup.txt'), 'a\nb\na\n');
  assert.throws(() => readClassMap(join(tmp, 'dup.txt')), /'a' on lines 1 and 3/);
  writeFileSync(join(tmp, 'hole.txt'), 'a\n\nb\n');
  assert.throws(() => readClassMap(join(tmp, 'hole.txt')), /line 2 is empty/);
  assert.throws(() => readClassMap(join(tmp, 'none.txt')), /cannot read/);
  assert.throws(() => resolveFileDataset('imagenet', undefined), /pass --data-dir/);
  const noVal = join(tmp, 'noval');
  mkdirSync(join(noVal, 'train', WNIDS[0]!), { recursive: true });
  assert.throws(() => resolveFileDataset('imagenet', noVal), /no val \/ validation sub-folder/);
});

test('eval label rule: ImageNet indices only for a 1000-output model whose folders are all wnids', () => {
  assert.equal(labelSetForFolders(WNIDS, 'd', 1000).index.get(WNIDS[2]!), 491);
  // not all wnids, or not a 1000-class model: torchvision ImageFolder's sorted positions
  assert.equal(labelSetForFolders(['cat', WNIDS[0]!], 'd', 1000).index.get(WNIDS[0]!), 1);
  assert.equal(labelSetForFolders(WNIDS, 'd', 10).index.get(WNIDS[2]!), 2);
});

test('subset runs get their own results file', () => {
  assert.deepEqual(resultsTarget('imagenet', { evaluated: 50000, testSize: 50000, classesPresent: 1000, numClasses: 1000 }), {
    file: 'results-imagenet.csv',
    subset: false,
  });
  assert.equal(
    resultsTarget('imagenet', { evaluated: 6, testSize: 6, classesPresent: 3, numClasses: 1000 }).file,
    'results-imagenet-subset-3c.csv',
  );
  assert.equal(
    resultsTarget('imagenet', { evaluated: 6, testSize: 9, classesPresent: 3, numClasses: 1000, limitTrain: 12 }).file,
    'results-imagenet-subset-3c-train12-val6.csv',
  );
  assert.equal(resultsTarget('mnist', { evaluated: 1000, testSize: 10000 }).file, 'results-mnist-val1000.csv');
});

test('batch plans: same seed, same order and per-sample seeds; a resumed step is rebuilt on its own', () => {
  const split = {
    dir: 'd',
    files: Array.from({ length: 10 }, (_, i) => `f${i}`),
    labels: Int32Array.from({ length: 10 }, (_, i) => i % 3),
    n: 10,
    classesPresent: 3,
  };
  const a = new FilePipeline(split, { batchSize: 4, seed: 7, sampleSeeds: true });
  const b = new FilePipeline(split, { batchSize: 4, seed: 7, sampleSeeds: true });
  assert.equal(a.stepsPerEpoch, 3);
  const all = [...a.from(0, 0, 2)];
  assert.equal(all.length, 6);
  assert.deepEqual(b.plan(1, 2), all[5]);
  assert.deepEqual(
    all[0]!.labels,
    Int32Array.from(all[0]!.indices, (i) => i % 3),
  );
  assert.deepEqual(new Set(all.slice(0, 3).flatMap((p) => [...p.indices])).size, 10);
  assert.notDeepEqual([...all[0]!.indices], [...all[3]!.indices]);
  assert.notDeepEqual(all[0]!.seeds, new FilePipeline(split, { batchSize: 4, seed: 8, sampleSeeds: true }).plan(0, 0).seeds);
  const val = new FilePipeline(split, { batchSize: 4, seed: 0, shuffle: false, limit: 6, limitMode: 'stratified' });
  assert.equal(val.size, 6);
  assert.equal(val.plan(0, 0).seeds, undefined);
});

test('RandomResizedCrop box: inside the image, area and ratio within range, seeded; the fallback is the centred clamp', () => {
  for (let s = 0; s < 200; s++) {
    const rng = new Rng(s);
    const W = 50 + (s % 7) * 40,
      H = 40 + (s % 5) * 55;
    const b = randomResizedCropBox(W, H, [0.08, 1], [3 / 4, 4 / 3], rng);
    assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= W && b.top + b.height <= H, JSON.stringify(b));
    assert.ok(b.width >= 1 && b.height >= 1);
    assert.deepEqual(randomResizedCropBox(W, H, [0.08, 1], [3 / 4, 4 / 3], new Rng(s)), b);
  }
  // area 1 at ratio 1 fits only a square image; a 300x100 one falls back to the whole height, width
  // clamped to the largest ratio (round(100 * 1) = 100), centred: left = (300 - 100) // 2
  assert.deepEqual(randomResizedCropBox(300, 100, [1, 1], [1, 1], new Rng(1)), { top: 0, left: 100, height: 100, width: 100 });
  assert.deepEqual(randomResizedCropBox(100, 300, [1, 1], [3 / 4, 4 / 3], new Rng(1)), { top: 83, left: 0, height: 133, width: 100 });
  assert.deepEqual(randomResizedCropBox(64, 64, [1, 1], [1, 1], new Rng(1)), { top: 0, left: 0, height: 64, width: 64 });
});
