/**
 * `regnet train MODEL --dataset imagenet --data-dir DIR` end to end on a tiny generated ImageNet-layout
 * folder (3 wnids, a few small JPEGs): a subset-suffixed results-imagenet-*.csv row with the columns of
 * the results table plus n_images, never results-imagenet.csv; `eval --checkpoint` reproduces it; an
 * unknown wnid folder is one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ModelSpec } from '../src/arch/spec.js';
import { resolveAuto } from '../src/engine/select.js';
import { RESULTS_COLUMNS, RESULTS_EXTRA_COLUMNS } from '../src/results/timm.js';
import { MODEL_FILE } from '../src/train/checkpoint.js';
import { trainModel } from '../src/train/run.js';
import type { TrainRequest } from '../src/train/types.js';
import { runCli } from './helpers/cli.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('train-imagenet-');
const ENGINE = (await resolveAuto()) === 'torch' ? 'torch' : 'wasm';
const WNIDS = ['n01440764', 'n02102040', 'n03000684'];

async function makeImageNet(root: string, wnids: string[]): Promise<void> {
  for (const [split, n] of [
    ['train', 4],
    ['val', 2],
  ] as const) {
    for (const [c, w] of wnids.entries()) {
      const d = join(root, split, w);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < n; i++) {
        const bg = { r: 200 - 80 * c, g: 40 + 70 * c, b: 30 + 10 * i };
        await sharp({ create: { width: 48 + 5 * i, height: 36 + 3 * c, channels: 3, background: bg } })
          .jpeg({ quality: 90 })
          .toFile(join(d, `${w}_${i}.JPEG`));
      }
    }
  }
}

const root = join(tmp, 'imagenet');
await makeImageNet(root, WNIDS);
const COMMON = ['--engine', ENGINE, '--threads', '1', '--progress', 'none', '--seed', '1'];

test('train regnetx_002 --dataset imagenet: subset-suffixed results row; eval --checkpoint agrees', () => {
  const res = join(tmp, 'results');
  const ck = join(tmp, 'ck');
  const args = [
    'train',
    'regnetx_002',
    '--dataset',
    'imagenet',
    '--data-dir',
    root,
    '--img-size',
    '32',
    '--steps',
    '2',
    '--batch-size',
    '4',
  ];
  const t = runCli([...args, ...COMMON, '--limit-train', '8', '--checkpoint', ck, '--results-dir', res, '--json']);
  assert.equal(t.code, 0, t.stderr);
  const j = JSON.parse(t.stdout) as { status: string; top1: number; top5: number; imgSize: number; steps: number };
  assert.deepEqual([j.status, j.imgSize, j.steps], ['ok', 32, 2]);

  assert.ok(!existsSync(join(res, 'results-imagenet.csv')), 'a 3-class run must not land in results-imagenet.csv');
  const file = join(res, 'results-imagenet-subset-3c-train8.csv');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  // the results table: timm's nine columns, then ours, n_images (the evaluated images) last
  assert.equal(lines[0], [...RESULTS_COLUMNS, ...RESULTS_EXTRA_COLUMNS].join(','));
  assert.equal(RESULTS_EXTRA_COLUMNS.at(-1), 'n_images');
  assert.equal(lines.length, 2);
  assert.ok(
    lines[1]!.startsWith(
      `regnetx_002,32,${j.top1.toFixed(3)},${(100 - j.top1).toFixed(3)},${j.top5.toFixed(3)},${(100 - j.top5).toFixed(3)},2.68,0.875,bicubic,`,
    ),
    lines[1],
  );
  assert.ok(lines[1]!.endsWith(',6'), lines[1]);

  const e = runCli(['eval', '--checkpoint', ck, ...COMMON.slice(0, 6), '--results-dir', res, '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ej = JSON.parse(e.stdout) as { top1: number; top5: number; n: number; dataset: string };
  assert.deepEqual([ej.dataset, ej.n, ej.top1.toFixed(3), ej.top5.toFixed(3)], ['imagenet', 6, j.top1.toFixed(3), j.top5.toFixed(3)]);
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
});

test('an unknown wnid folder: one line naming it, exit 2', async () => {
  const bad = join(tmp, 'bad');
  await makeImageNet(bad, [WNIDS[0]!, 'n00000001']);
  const r = runCli(['train', 'regnetx_002', '--dataset', 'imagenet', '--data-dir', bad, '--img-size', '32', '--steps', '1', ...COMMON]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /^regnet: error: .*n00000001: class folder 'n00000001' is not one of the 1000 ImageNet classes .*--class-map FILE.*\n$/,
  );
});

test('a stopped and resumed imagenet run equals an uninterrupted one (seeded crops, flips and order)', async () => {
  const spec: ModelSpec = {
    kind: 'anynet',
    stages: [8, 16].map((w) => ({ depth: 1, width: w, bottleRatio: 1, groupWidth: 8 })),
    seRatio: 0,
    act: 'relu',
    norm: 'bn',
    stemWidth: 8,
  };
  const req = (dir: string, extra: Partial<TrainRequest> = {}): TrainRequest => ({
    model: { name: 'tiny', spec },
    dataset: 'imagenet',
    dataDir: root,
    engine: ENGINE,
    threads: 1,
    seed: 5,
    progress: 'none',
    overrides: { res: 24, steps: 5, batchSize: 5, lr: 0.1 },
    checkpointDir: dir,
    ...extra,
  });
  const a = await trainModel(req(join(tmp, 'whole')));
  await trainModel(req(join(tmp, 'part'), { stopAtStep: 2 }));
  const b = await trainModel(req(join(tmp, 'part'), { resume: true }));
  assert.equal(b.steps, 5);
  assert.equal(b.finalLoss, a.finalLoss);
  assert.deepEqual(readFileSync(join(tmp, 'part', MODEL_FILE)), readFileSync(join(tmp, 'whole', MODEL_FILE)));
});
