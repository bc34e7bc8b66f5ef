/**
 * Stop-and-resume gives bit-identical weights and momentum buffers to an uninterrupted run (same seed,
 * same data order and augmentation), on engines that are deterministic run to run: torch on the CPU
 * with one thread, and tfjs on wasm (single-threaded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../src/arch/spec.js';
import { listEngines } from '../src/engine/select.js';
import type { EngineName } from '../src/engine/types.js';
import { MODEL_FILE, OPTIMIZER_FILE, readCheckpointState } from '../src/train/checkpoint.js';
import { trainModel } from '../src/train/run.js';
import type { TrainRequest } from '../src/train/types.js';
import { readSafetensors, readSafetensorsF32 } from '../src/io/safetensors.js';

const TINY: ModelSpec = {
  kind: 'anynet',
  stages: [8, 16, 32, 64].map((w) => ({ depth: 1, width: w, bottleRatio: 1, groupWidth: 8 })),
  seRatio: 0,
  act: 'relu',
  norm: 'bn',
  stemWidth: 16,
};

const available = new Set((await listEngines()).filter((e) => e.available).map((e) => e.engine));

function request(engine: EngineName, dir: string, extra: Partial<TrainRequest> = {}): TrainRequest {
  return {
    model: { name: 'tiny_anynet', spec: TINY },
    dataset: 'mnist',
    engine,
    threads: 1,
    seed: 7,
    progress: 'none',
    // 200 images, batch 32: 7 steps per epoch (the last one short), 3 epochs = 21 steps; with augmentation
    // and label smoothing so every random and optimiser path is exercised
    limitTrain: 200,
    limitVal: 100,
    overrides: { epochs: 3, batchSize: 32, lr: 0.2, warmupEpochs: 0.5, augment: true, labelSmoothing: 0.1 },
    checkpointDir: dir,
    ...extra,
  };
}

function files(dir: string): { model: Buffer; opt: Buffer } {
  return { model: readFileSync(join(dir, MODEL_FILE)), opt: readFileSync(join(dir, OPTIMIZER_FILE)) };
}

for (const engine of ['torch', 'wasm'] as const) {
  test(
    `${engine}: stopped at step 5 and 14 then resumed == uninterrupted, bit for bit`,
    { skip: available.has(engine) ? false : `${engine} not available` },
    async () => {
      const full = mkdtempSync(join(tmpdir(), 'regnet-ck-'));
      const a = await trainModel(request(engine, full));
      assert.equal(a.status, 'ok');
      assert.equal(a.steps, 21);

      // the engine is deterministic: a second uninterrupted run writes the same bytes
      const again = mkdtempSync(join(tmpdir(), 'regnet-ck-'));
      await trainModel(request(engine, again, { limitVal: 10 }));
      assert.ok(files(full).model.equals(files(again).model), 'two uninterrupted runs differ: engine not deterministic');

      const part = mkdtempSync(join(tmpdir(), 'regnet-ck-'));
      const s1 = await trainModel(request(engine, part, { stopAtStep: 5 }));
      assert.equal(s1.status, 'interrupted');
      assert.equal(s1.steps, 5);
      let st = readCheckpointState(part);
      assert.deepEqual([st.status, st.globalStep, st.epoch, st.step], ['interrupted', 5, 0, 5]);
      // mid-epoch, a resumed run continues with batch 5 of epoch 0 (the pipeline is rebuilt from the seed)
      const s2 = await trainModel(request(engine, part, { resume: true, stopAtStep: 14 }));
      assert.equal(s2.status, 'interrupted');
      st = readCheckpointState(part);
      assert.deepEqual([st.globalStep, st.epoch, st.step], [14, 2, 0]);
      const s3 = await trainModel(request(engine, part, { resume: true }));
      assert.equal(s3.status, 'ok');
      assert.equal(s3.steps, 21);
      st = readCheckpointState(part);
      assert.equal(st.status, 'finished');

      const f = files(full),
        p = files(part);
      const wf = readSafetensorsF32(join(full, MODEL_FILE)),
        wp = readSafetensorsF32(join(part, MODEL_FILE));
      for (const [name, t] of wf) assert.deepEqual(wp.get(name)!.data, t.data, name);
      assert.ok(f.model.equals(p.model), 'model.safetensors differs');
      assert.ok(f.opt.equals(p.opt), 'optimizer.safetensors differs');
      assert.equal(s3.top1, a.top1);
      assert.equal(s3.finalLoss, a.finalLoss);
      // weights really moved and momentum buffers exist for every learned tensor
      assert.ok(readSafetensorsF32(join(full, OPTIMIZER_FILE)).size > 10);
      // timm's strict loader wants an int64 num_batches_tracked beside every BatchNorm
      const raw = readSafetensors(join(full, MODEL_FILE)).tensors;
      const counters = [...raw].filter(([n]) => n.endsWith('.num_batches_tracked'));
      assert.equal(counters.length, [...raw.keys()].filter((n) => n.endsWith('.running_var')).length);
      assert.ok(counters.every(([, t]) => t.dtype === 'I64' && t.shape.length === 0));
    },
  );
}

test('resume refuses a checkpoint trained with other settings', async () => {
  const engine: EngineName = available.has('torch') ? 'torch' : 'wasm';
  const dir = mkdtempSync(join(tmpdir(), 'regnet-ck-'));
  await trainModel(request(engine, dir, { stopAtStep: 2 }));
  await assert.rejects(
    trainModel(
      request(engine, dir, {
        resume: true,
        overrides: { epochs: 3, batchSize: 32, lr: 0.3, warmupEpochs: 0.5, augment: true, labelSmoothing: 0.1 },
      }),
    ),
    /different lr/,
  );
  await assert.rejects(trainModel(request(engine, dir, { resume: true, seed: 8 })), /different seed/);
});

test('an aborted signal stops before the next step and leaves a resumable checkpoint', async () => {
  const engine: EngineName = available.has('torch') ? 'torch' : 'wasm';
  const dir = mkdtempSync(join(tmpdir(), 'regnet-ck-'));
  const ac = new AbortController();
  ac.abort();
  const r = await trainModel(request(engine, dir, { signal: ac.signal }));
  assert.equal(r.status, 'interrupted');
  assert.equal(r.steps, 0);
  const st = readCheckpointState(dir);
  assert.equal(st.globalStep, 0);
  assert.equal(st.rng.seed, 7);
  assert.equal(st.request.model.name, 'tiny_anynet');
});
