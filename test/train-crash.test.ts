/**
 * A checkpoint is one atomic unit: `train` killed (SIGKILL) at every point of a checkpoint save, and at
 * seeded random moments, then resumed, ends with weights and momentum byte-identical to an uninterrupted
 * run, and no temp or `.next` file is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../src/arch/spec.js';
import { MODEL_FILE, OPTIMIZER_FILE, readCheckpointState } from '../src/train/checkpoint.js';
import { trainModel } from '../src/train/run.js';
import type { TrainRequest } from '../src/train/types.js';
import { Rng } from '../src/util/rng.js';
import { ROOT } from './helpers/cli.js';
import { trainEngine } from './helpers/fixtures.js';

const TINY: ModelSpec = {
  kind: 'anynet',
  stages: [8, 16, 32, 64].map((w) => ({ depth: 1, width: w, bottleRatio: 1, groupWidth: 8 })),
  seRatio: 0,
  act: 'relu',
  norm: 'bn',
  stemWidth: 16,
};
const ENGINE = trainEngine();
const CHILD = join(ROOT, 'test/helpers/train-child.ts');

function request(dir: string, extra: Partial<TrainRequest> = {}): TrainRequest {
  // 96 images, batch 32: 3 steps per epoch, 4 epochs, a checkpoint at every epoch end
  return {
    model: { name: 'tiny_anynet', spec: TINY },
    dataset: 'mnist',
    engine: ENGINE,
    threads: 1,
    seed: 3,
    progress: 'none',
    limitTrain: 96,
    limitVal: 32,
    overrides: { epochs: 4, batchSize: 32, lr: 0.1, warmupEpochs: 0.5 },
    checkpointDir: dir,
    ...extra,
  };
}

const bytes = (dir: string) => ({ model: readFileSync(join(dir, MODEL_FILE)), opt: readFileSync(join(dir, OPTIMIZER_FILE)) });
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.next'));

const reference = mkdtempSync(join(tmpdir(), 'regnet-crash-ref-'));
const refResult = await trainModel(request(reference));

function assertSameAsReference(dir: string): void {
  const a = bytes(reference),
    b = bytes(dir);
  assert.ok(a.model.equals(b.model), 'model.safetensors differs from the uninterrupted run');
  assert.ok(a.opt.equals(b.opt), 'optimizer.safetensors differs from the uninterrupted run');
  assert.equal(readCheckpointState(dir).status, 'finished');
  assert.deepEqual(leftovers(dir), []);
}

for (const point of ['before-commit', 'after-commit-record']) {
  test(`killed at ${point} of a checkpoint save: resume gives the uninterrupted weights`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regnet-crash-'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(request(dir))], {
      cwd: ROOT,
      env: { ...process.env, REGNET_TEST_CRASH_AT: point },
      encoding: 'utf8',
    });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    // the folder holds the old checkpoint (none yet: rolled back) or the new one (rolled forward)
    const resumed = await trainModel(request(dir, { resume: true }));
    assert.equal(resumed.status, 'ok');
    assert.equal(resumed.steps, refResult.steps);
    assertSameAsReference(dir);
  });
}

test('killed with SIGKILL at seeded random moments, resumed each time: the uninterrupted weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-crash-rnd-'));
  const rng = new Rng(11);
  let kills = 0;
  for (let attempt = 0; attempt < 12; attempt++) {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(request(dir, { resume: true }))], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    // start-up takes most of a second; the training itself a few hundred ms
    const delay = Math.floor(rng.uniform(600, 2000));
    const timer = setTimeout(() => child.kill('SIGKILL'), delay);
    const [code, signal] = (await new Promise((res) => child.on('exit', (c, s) => res([c, s])))) as [number | null, string | null];
    clearTimeout(timer);
    if (signal === 'SIGKILL') kills++;
    else {
      assert.equal(code, 0);
      break;
    }
  }
  const done = await trainModel(request(dir, { resume: true }));
  assert.equal(done.steps, refResult.steps);
  assertSameAsReference(dir);
  assert.ok(kills >= 1, 'no kill landed during the run');
});
