/**
 * Data-parallel training on libtorch c10d (Gloo on CPU): 2 ranks x batch 32 train exactly what 1 rank x
 * batch 64 does (same seed; a GroupNorm network, whose normalisation does not depend on the batch, and
 * a BatchNorm one with --sync-bn), a run checkpointed by 2 ranks resumes on 1, and only rank 0 writes. The rank-environment and sharding
 * rules are checked without the addon.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { distBackends, distributedFromEnv, firstSlurmHost } from '../src/engine/torch/dist.js';
import { readSafetensorsF32 } from '../src/io/safetensors.js';
import { readCsv } from '../src/results/csv.js';
import { resolveConfig } from '../src/train/config.js';
import { shardRange } from '../src/train/data-parallel.js';
import { describeRecipe } from '../src/train/results-row.js';
import { freePort } from '../src/train/launch.js';
import type { TrainRequest } from '../src/train/types.js';
import { runCli } from './helpers/cli.js';
import { torchSkip } from './helpers/fixtures.js';
import { tempDirUntilExit } from './helpers/tmp.js';

describe('rank environment and sharding', () => {
  it('reads torchrun-style variables', () => {
    const d = distributedFromEnv({ RANK: '1', WORLD_SIZE: '4', LOCAL_RANK: '1', MASTER_ADDR: 'h0', MASTER_PORT: '29400' });
    assert.deepEqual(
      { rank: d?.rank, world: d?.world, localRank: d?.localRank, addr: d?.masterAddr, port: d?.masterPort },
      { rank: 1, world: 4, localRank: 1, addr: 'h0', port: 29400 },
    );
    assert.equal(distributedFromEnv({ RANK: '0', WORLD_SIZE: '1' }), undefined);
    assert.equal(distributedFromEnv({}), undefined);
    assert.throws(() => distributedFromEnv({ RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' }), /RANK 2/);
    assert.throws(() => distributedFromEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' }), /MASTER_ADDR/);
    assert.throws(() => distributedFromEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'a' }), /MASTER_PORT/);
  });

  it("reads Slurm's variables, the master on the step's first node and a port from the job id", () => {
    const d = distributedFromEnv({
      SLURM_PROCID: '3',
      SLURM_NTASKS: '4',
      SLURM_LOCALID: '1',
      SLURM_JOB_NODELIST: 'gpu[07-08,11],cpu1',
      SLURM_JOB_ID: '123456',
      SLURM_TASKS_PER_NODE: '2(x2)',
    });
    assert.deepEqual(
      { rank: d?.rank, world: d?.world, localRank: d?.localRank, localWorld: d?.localWorld, addr: d?.masterAddr, port: d?.masterPort },
      { rank: 3, world: 4, localRank: 1, localWorld: 2, addr: 'gpu07', port: 20000 + (123456 % 20000) },
    );
    // one task is no data-parallel job; MASTER_ADDR, when given, wins over the node list
    assert.equal(distributedFromEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '1' }), undefined);
    assert.equal(distributedFromEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'n1', MASTER_ADDR: 'm' })?.masterAddr, 'm');
    assert.equal(firstSlurmHost('node[3-5]'), 'node3');
    assert.equal(firstSlurmHost('a,b[1-2]'), 'a');
    assert.equal(firstSlurmHost('x-[01,04]-y'), 'x-01-y');
  });

  it('a BatchNorm run on W ranks without --sync-bn is its own result: bn_ranks=W in the recipe label', () => {
    const split = { images: new Uint8Array(28 * 28 * 4), labels: new Int32Array(4), n: 4 };
    const ds = { name: 'mnist', train: split, test: split, numClasses: 10, channels: 1, height: 28, width: 28, mean: [0.5], std: [0.25] };
    const req = { model: { name: 'x', spec: JSON.parse(GN_NET) }, dataset: 'mnist', engine: 'auto' as const, seed: 0 };
    const cfg = resolveConfig(req, ds as never, () => 4);
    assert.equal(cfg.bnRanks, 1);
    assert.equal(describeRecipe(cfg, cfg), cfg.recipe);
    assert.equal(describeRecipe({ ...cfg, bnRanks: 2 }, cfg), `${cfg.recipe}[bn_ranks=2]`);
  });

  it('splits a global batch over the ranks without gaps or overlaps, sizes within one', () => {
    for (const [n, w] of [
      [64, 2],
      [7, 2],
      [7, 3],
      [2, 4],
    ] as const) {
      let next = 0;
      const sizes: number[] = [];
      for (let r = 0; r < w; r++) {
        const { start, end } = shardRange(n, { rank: r, world: w });
        assert.equal(start, next);
        next = end;
        sizes.push(end - start);
      }
      assert.equal(next, n);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${n} over ${w}: ${sizes}`);
    }
  });
});

const skip =
  torchSkip() ||
  (distBackends().includes('gloo') ? false : 'the torch addon was built without Gloo (apt-get install libgloo-dev, rebuild)');

/** A tiny AnyNet with GroupNorm: its forward pass on 32 samples is that of the same samples within 64. */
const GN_NET = JSON.stringify({
  kind: 'anynet',
  stages: [
    { depth: 1, width: 16, groupWidth: 8 },
    { depth: 1, width: 32, groupWidth: 8 },
  ],
  norm: 'gn',
  stemWidth: 8,
});

/** The same network with BatchNorm: equal only when BN uses the global batch's statistics (--sync-bn). */
const BN_NET = GN_NET.replace('"gn"', '"bn"');

/** 199 images: three global batches of 64 and a short one of 7 (3 + 4 over two ranks, weighted). */
const TRAIN = ['--limit-train', '199', '--limit-val', '50', '--epochs', '1', '--seed', '3', '--engine', 'torch', '--threads', '1'];
const COMMON = [...TRAIN, '--no-bench', '--progress', 'none', '--json'];

function maxDiff(a: string, b: string): number {
  const wa = readSafetensorsF32(a);
  const wb = readSafetensorsF32(b);
  assert.deepEqual([...wa.keys()].sort(), [...wb.keys()].sort());
  let m = 0;
  for (const [k, t] of wa) {
    const u = wb.get(k)!.data;
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i]! - u[i]!));
  }
  return m;
}

function json(stdout: string): { status: string; finalLoss: number; top1: number; steps: number; batchSize: number } {
  return JSON.parse(stdout);
}

describe('data-parallel training (Gloo)', { skip, timeout: 300_000 }, () => {
  const dir = tempDirUntilExit('regnet-ddp-');
  const configs = join(dir, 'gn.csv');
  writeFileSync(configs, `arch\n"${GN_NET.replace(/"/g, '""')}"\n`);
  const ck1 = join(dir, 'ck1');

  it('2 ranks x batch 32 equal 1 rank x batch 64: weights, momentum, loss and top-1; rank 0 alone writes', () => {
    const one = runCli([
      'train',
      '--configs',
      configs,
      ...COMMON,
      '--batch-size',
      '64',
      '--checkpoint',
      ck1,
      '--results-dir',
      join(dir, 'r1'),
    ]);
    assert.equal(one.code, 0, one.stderr);
    const ck2 = join(dir, 'ck2');
    const two = runCli(
      [
        'train',
        '--configs',
        configs,
        ...COMMON,
        '--batch-size',
        '32',
        '--nproc-per-node',
        '2',
        '--checkpoint',
        ck2,
        '--results-dir',
        join(dir, 'r2'),
        '--progress',
        'plain',
      ],
      { timeoutMs: 240_000 },
    );
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stderr, /data-parallel: 2 ranks \(launcher\), global batch 64 \(32 per rank\)/);
    const a = json(one.stdout);
    // only rank 0 prints the result
    const b = json(two.stdout);
    assert.equal(b.steps, 4);
    assert.equal(b.batchSize, 64);
    assert.ok(Math.abs(a.finalLoss - b.finalLoss) < 1e-5, `final loss ${a.finalLoss} vs ${b.finalLoss}`);
    assert.equal(b.top1, a.top1);
    const dw = maxDiff(join(ck1, 'model.safetensors'), join(ck2, 'model.safetensors'));
    const dm = maxDiff(join(ck1, 'optimizer.safetensors'), join(ck2, 'optimizer.safetensors'));
    assert.ok(dw < 1e-5 && dm < 1e-5, `weights differ by ${dw}, momentum by ${dm}`);
    // the evaluation counted every test image once (summed over ranks), the row records the global batch
    const rows = readCsv(join(dir, 'r2', 'results-mnist-val50.csv'));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.train_batch_size, '64');
    assert.equal(rows[0]!.top1, readCsv(join(dir, 'r1', 'results-mnist-val50.csv'))[0]!.top1);
    const runs = readCsv(join(dir, 'r2', 'runs.csv'));
    assert.equal(runs.length, 1, 'one run row, from rank 0');
    assert.equal(runs[0]!.batch_size, '64');
  });

  it('with BatchNorm, 2 ranks x 32 with --sync-bn equal 1 rank x 64, running statistics included', () => {
    const bn = join(dir, 'bn.csv');
    writeFileSync(bn, `arch\n"${BN_NET.replace(/"/g, '""')}"\n`);
    const [ref, sync] = [join(dir, 'bn1'), join(dir, 'bn2')];
    const one = runCli(['train', '--configs', bn, ...COMMON, '--batch-size', '64', '--checkpoint', ref, '--results-dir', join(dir, 'rb1')]);
    assert.equal(one.code, 0, one.stderr);
    const two = runCli(
      [
        'train',
        '--configs',
        bn,
        ...COMMON,
        '--batch-size',
        '32',
        '--nproc-per-node',
        '2',
        '--sync-bn',
        '--checkpoint',
        sync,
        '--results-dir',
        join(dir, 'rb2'),
      ],
      { timeoutMs: 240_000 },
    );
    assert.equal(two.code, 0, two.stderr);
    assert.ok(Math.abs(json(one.stdout).finalLoss - json(two.stdout).finalLoss) < 1e-5);
    const dw = maxDiff(join(ref, 'model.safetensors'), join(sync, 'model.safetensors'));
    const dm = maxDiff(join(ref, 'optimizer.safetensors'), join(sync, 'optimizer.safetensors'));
    assert.ok(dw < 1e-5 && dm < 1e-5, `weights and BN statistics differ by ${dw}, momentum by ${dm}`);
    // the same computation, so the same results-row identity (no bn_ranks part in the recipe label)
    const recipeOf = (d: string) => {
      const f = readdirSync(d).find((n) => n.startsWith('results-'))!;
      return readCsv(join(d, f))[0]!.recipe;
    };
    assert.equal(recipeOf(join(dir, 'rb2')), recipeOf(join(dir, 'rb1')));
    assert.doesNotMatch(recipeOf(join(dir, 'rb2'))!, /bn_ranks/);
  });

  it('a run checkpointed by 2 ranks resumes on 1 and ends where the 1-rank run did', async () => {
    const ck = join(dir, 'ck-resume');
    const port = await freePort();
    const child = fileURLToPath(new URL('./helpers/train-child.ts', import.meta.url));
    const req: TrainRequest = {
      model: { name: 'gn', spec: JSON.parse(GN_NET) },
      dataset: 'mnist',
      engine: 'torch',
      threads: 1,
      seed: 3,
      limitTrain: 199,
      limitVal: 50,
      overrides: { epochs: 1, batchSize: 64 },
      checkpointDir: ck,
      progress: 'none',
      bench: false,
      stopAtStep: 2,
    };
    const runs = [0, 1].map(
      (rank) =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const dist = { rank, world: 2, localRank: rank, localWorld: 2, masterAddr: '127.0.0.1', masterPort: port, source: 'test' };
          const p = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify({ ...req, distributed: dist })], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '',
            err = '';
          p.stdout.on('data', (d) => (out += d));
          p.stderr.on('data', (d) => (err += d));
          p.on('exit', (code) => resolve({ code, out, err }));
        }),
    );
    for (const r of await Promise.all(runs)) {
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { status: 'interrupted', steps: 2 });
    }
    const state = JSON.parse(readFileSync(join(ck, 'state.json'), 'utf8'));
    assert.equal(state.globalStep, 2);
    assert.equal(state.config.batchSize, 64, 'the checkpoint records the global batch');
    const resumed = runCli([
      'train',
      '--checkpoint',
      ck,
      '--resume',
      '--threads',
      '1',
      '--results-dir',
      join(dir, 'r3'),
      ...COMMON.slice(-4),
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(json(resumed.stdout).steps, 4);
    const dw = maxDiff(join(ck1, 'model.safetensors'), join(ck, 'model.safetensors'));
    assert.ok(dw < 1e-5, `resumed weights differ by ${dw}`);
  });
});
