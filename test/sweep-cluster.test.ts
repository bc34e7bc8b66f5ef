/**
 * Sweeps on clusters: device and threads in rows and in the config hash, the recorded Slurm array layout
 * (a rerun of one task runs its shard of the recorded count), `--device cuda` refused before any model
 * where CUDA is missing, `--devices` (one worker per device), and `merge` refusing a sweep with models
 * missing unless --allow-partial (exit 3, nothing written).
 */
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadSweepConfig, parseSweepConfig, resolveSweep, runIdentity } from '../src/sweep/config.js';
import { mergeSweeps } from '../src/sweep/merge.js';
import { readRows } from '../src/sweep/rows.js';
import { runSweep, type TrainFn } from '../src/sweep/run.js';
import { readShardRecord, resolveShard, SHARD_RECORD, writeShardRecord } from '../src/sweep/shard.js';
import { loadSpace } from '../src/space/space-config.js';
import { torchAddon, torchAvailable } from '../src/engine/torch/native.js';
import type { TrainRequest, TrainResult } from '../src/train/types.js';
import { ROOT } from './helpers/cli.js';
import type { InProcessResult } from './helpers/in-process.js';
import { writeTinySweep } from './helpers/sweep-config.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const dir = tempDirUntilExit('sweep-cluster-');
const space = loadSpace(new URL('../configs/spaces/anynetx_small.json', import.meta.url).pathname);
const sweepOf = (extra: object = {}) =>
  resolveSweep(
    parseSweepConfig({ name: 'cl', space: 'anynetx_small', n: 6, seed: 5, dataset: 'mnist', overrides: { steps: 2 }, ...extra }),
    space,
  );

/** Whether libtorch here has a GPU: the no-CUDA checks only mean something without one. */
const cudaHere = torchAvailable().ok && torchAddon().cudaAvailable();

test('the identity of a run: threads (default: the cores here) and the device kind; rows record both', async () => {
  assert.deepEqual(runIdentity({}), { device: 'cpu', threads: availableParallelism() });
  assert.deepEqual(runIdentity({ threads: 3, device: 'cuda:2' }), { device: 'cuda', threads: 3 });
  assert.notEqual(sweepOf({ threads: 1 }).hash, sweepOf({ threads: 2 }).hash);
  assert.notEqual(sweepOf({ threads: 1 }).hash, sweepOf({ threads: 1, device: 'cuda' }).hash);
  assert.equal(sweepOf({ threads: 1, device: 'cuda:0' }).hash, sweepOf({ threads: 1, device: 'cuda:1' }).hash);

  // a model that ran records what its engine reports; one that failed, what the config asked for
  const sweep = sweepOf({ threads: 3, device: 'cpu' });
  const failId = 1;
  let call = 0;
  const trainer: TrainFn = async (req: TrainRequest): Promise<TrainResult> => {
    if (call++ === failId) throw new Error('boom');
    return {
      status: 'ok',
      model: req.model.name,
      dataset: req.dataset,
      engine: 'torch',
      device: req.device ?? 'cpu',
      threads: req.threads! + 100,
      top1: 50,
      top5: 70,
      epochs: 1,
      steps: 2,
      trainSeconds: 1,
      imagesPerSec: 10,
      finalLoss: 0.5,
      params: 0,
      flops: 0,
      acts: 0,
      imgSize: 32,
    };
  };
  const out = join(dir, 'rows');
  await runSweep({ sweep, outDir: out, trainer });
  const rows = readRows(join(out, 'sweep.csv'));
  assert.equal(rows.length, 6);
  for (const r of rows) {
    assert.equal(r.config_hash, sweep.hash);
    assert.equal(r.device, 'cpu');
    assert.equal(r.threads, r.status === 'failed' ? 3 : 103, `row ${r.id} (${r.status})`);
  }
  assert.equal(rows.filter((r) => r.status === 'failed').length, 1);
  // files written before the columns existed still read (blank device, threads NaN)
  const text = readFileSync(join(out, 'sweep.csv'), 'utf8').split('\n');
  const cols = text[0]!.split(',');
  const drop = (line: string) =>
    line
      .split(',')
      .filter((_, i) => cols[i] !== 'device' && cols[i] !== 'threads')
      .join(',');
  writeFileSync(join(dir, 'old.csv'), text.map((l) => (l === '' ? l : drop(l))).join('\n'));
  const old = readRows(join(dir, 'old.csv'));
  assert.equal(old.length, 6);
  assert.ok(old.every((r) => r.device === '' && Number.isNaN(r.threads)));
});

test('Slurm layout: recorded on the first array run; a rerun of fewer tasks runs shard I - min of the recorded count', async () => {
  const env = (id: number, count: number, min: number) => ({
    SLURM_ARRAY_TASK_ID: String(id),
    SLURM_ARRAY_TASK_COUNT: String(count),
    SLURM_ARRAY_TASK_MIN: String(min),
  });
  const pick = (s: ReturnType<typeof resolveShard>) => s && [s.index, s.count, s.slurmMin];
  // without a record: the array's own layout (the old behaviour: --array=2 alone is shard 0 of 1)
  assert.deepEqual(pick(resolveShard({}, env(2, 1, 2))), [0, 1, 2]);
  const rec = { count: 3, min: 1 };
  // the rerun `sbatch --array=2` of an array 1-3: shard 1 of 3
  assert.deepEqual(pick(resolveShard({}, env(2, 1, 2), rec)), [1, 3, 1]);
  assert.deepEqual(pick(resolveShard({}, env(3, 2, 2), rec)), [2, 3, 1]);
  // the whole array again, or a larger one, is its own layout; --shards N sets one explicitly
  assert.deepEqual(pick(resolveShard({}, env(1, 3, 1), rec)), [0, 3, 1]);
  assert.deepEqual(pick(resolveShard({}, env(4, 4, 1), rec)), [3, 4, 1]);
  assert.deepEqual(pick(resolveShard({ shards: 2 }, env(1, 1, 1), rec)), [0, 2, 1]);
  assert.deepEqual(pick(resolveShard({ shards: 3 }, env(3, 1, 3), rec)), [2, 3, 1]);
  // a task outside the recorded array is an error naming it
  assert.throws(() => resolveShard({}, env(7, 1, 7), rec), /Slurm array task 7 of the recorded 3-task array.*outside 0\.\.2/);
  // --shard wins over everything
  assert.deepEqual(pick(resolveShard({ shard: '0/5' }, env(2, 1, 2), rec)), [0, 5, undefined]);

  // the record: per folder and config hash, written through runSweep before its first file
  const out = join(dir, 'layout');
  const sweep = sweepOf({ threads: 1 });
  const shard = resolveShard({}, env(1, 3, 1))!;
  mkdirSync(out, { recursive: true });
  await runSweep({ sweep, outDir: out, shard, trainer: trainerOk, beforeFirstWrite: () => writeShardRecord(out, sweep.hash, shard) });
  assert.deepEqual(
    readRows(join(out, 'sweep.shard-0-of-3.csv')).map((r) => r.id),
    [0, 3],
  );
  assert.deepEqual(readShardRecord(out, sweep.hash), { count: 3, min: 1, config_hash: sweep.hash });
  assert.equal(readShardRecord(out, 'ffffffffffffffff'), undefined, 'a record of another config does not count');
  // an explicit shard (no Slurm array) records nothing new
  writeShardRecord(out, sweep.hash, { index: 0, count: 2, source: '--shard' });
  assert.equal(JSON.parse(readFileSync(join(out, SHARD_RECORD), 'utf8')).count, 3);
});

async function trainerOk(req: TrainRequest): Promise<TrainResult> {
  return {
    status: 'ok',
    model: req.model.name,
    dataset: req.dataset,
    engine: 'torch',
    top1: 40,
    top5: 60,
    epochs: 1,
    steps: 2,
    trainSeconds: 1,
    imagesPerSec: 10,
    finalLoss: 0.5,
    params: 0,
    flops: 0,
    acts: 0,
    imgSize: 32,
  };
}

/**
 * `regnet ARGS` for each job, in-process in one child (test/helpers/bad-input-runner.ts): a second each
 * saved over a fresh node + tsx per command. The in-process stderr holds exactly what the CLI printed.
 */
function runMany(jobs: string[][]): InProcessResult[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/bad-input-runner.ts')], {
    cwd: ROOT,
    input: JSON.stringify(jobs.map((args) => ({ args, cwd: ROOT }))),
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, `runner failed (${r.signal ?? r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as InProcessResult[];
}

test('merge: models missing -> exit 3, nothing written, unless --allow-partial', async () => {
  const sweep = sweepOf({ threads: 1 });
  const out = join(dir, 'partial');
  const full = join(dir, 'full');
  // shard 0 of 2 done, shard 1 never ran: ids 1, 3, 5 missing
  await runSweep({ sweep, outDir: out, shard: { index: 0, count: 2, source: 'test' }, trainer: trainerOk });
  assert.throws(() => mergeSweeps([out], join(dir, 'm0.csv'), { requireComplete: true }), /3 model\(s\) have no row/);
  assert.ok(!existsSync(join(dir, 'm0.csv')));
  await runSweep({ sweep, outDir: full, trainer: trainerOk });

  const [m, p, c] = runMany([
    ['merge', out, '--out', join(dir, 'm1.csv')],
    ['merge', out, '--out', join(dir, 'm2.csv'), '--allow-partial'],
    ['merge', full, '--out', join(dir, 'm3.csv')],
  ]);
  assert.equal(m!.code, 3, m!.stderr);
  assert.equal(
    m!.stderr,
    'regnet: error: merge: 3 model(s) have no row yet (ids 1, 3, 5): rerun their shards, or pass --allow-partial; nothing written\n',
  );
  assert.ok(!existsSync(join(dir, 'm1.csv')));
  assert.equal(p!.code, 0, p!.stderr);
  assert.match(p!.stderr, /3 models .*; 3 models missing \(ids 1, 3, 5\)/);
  assert.deepEqual(
    readRows(join(dir, 'm2.csv')).map((r) => r.id),
    [0, 2, 4],
  );
  // complete: exit 0 without the flag
  assert.equal(c!.code, 0, c!.stderr);
  assert.match(c!.stderr, /6 models .*complete/);
});

test('--device/--devices: usage errors and, without CUDA, one line and exit 2 before any model, nothing written', async () => {
  const cfg = writeTinySweep(dir, 'tiny.json', 'tiny');
  const gpuCfg = writeTinySweep(dir, 'gpu.json', 'gpu', { device: 'cuda' });
  const usage: Array<[string[], RegExp]> = [
    [['--workers', '3', '--devices', 'cuda:0,cuda:1'], /--devices: 2 device\(s\) for --workers 3/],
    [['--devices', 'cuda:0,cuda:1', '--device', 'cuda'], /leave out --device/],
    [['--devices', 'cuda:0,gpu'], /--device: 'gpu' is not one of cpu, cuda, cuda:N/],
    [['--devices', 'cuda:0', '--shard', '0/2'], /--devices goes with --workers/],
  ];
  const noCuda: string[][] = [['--device', 'cuda'], ['--device', 'cuda:1'], ['--workers', '2', '--devices', 'cuda:0,cuda:1'], []];
  const outOf = (i: number) => join(dir, `dev-${i}`);
  // --workers: each child runs with the config's threads (not the cores split): with them it finds every
  // row done (same hash) and trains nothing; with others it would train, and fail on the empty data folder
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  const t3 = writeTinySweep(dir, 't3.json', 't3', { threads: 3, dataset: 'fashion-mnist', data_dir: empty });
  const t3sweep = loadSweepConfig(t3);
  await runSweep({ sweep: t3sweep, outDir: join(dir, 'w3'), trainer: trainerOk });
  const results = runMany([
    ['sweep', t3, '--out', join(dir, 'w3'), '--workers', '2'],
    ...usage.map(([args], i) => ['sweep', cfg, '--out', join(dir, `bad-${i}`), ...args]),
    ...(cudaHere ? [] : noCuda.map((args, i) => ['sweep', args.length ? cfg : gpuCfg, '--out', outOf(i), ...args])),
  ]);
  const w = results.shift()!;
  assert.equal(w.code, 0, w.stderr);
  for (const i of [0, 1])
    assert.match(w.stderr, new RegExp(`\\[worker ${i}\\] config ${t3sweep.hash}: 3 thread\\(s\\), device cpu`), w.stderr);
  assert.match(w.stderr, /merged 4 rows/);
  usage.forEach(([args, msg], i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^regnet: error: [^\n]*\n$/, r.stderr);
    assert.match(r.stderr, msg);
  });
  if (cudaHere) return; // the no-CUDA half only means something without a GPU (the GPU check runs on one)
  noCuda.forEach((args, i) => {
    const r = results[usage.length + i]!;
    const label = args.join(' ') || '"device": "cuda" in the config';
    assert.equal(r.code, 2, `${label}: ${r.stderr}`);
    // before any model: the error is all there is
    const lines = r.stderr.trim().split('\n');
    assert.match(lines.at(-1)!, /^regnet: error: .*(tiny|gpu)\.json: device cuda(:\d)?(: CUDA is not available| needs the torch engine)/);
    assert.ok(lines.length === 1 && !/model 0|\[worker/.test(r.stderr), `${label}: ${r.stderr}`);
    const left = existsSync(outOf(i)) ? readdirSync(outOf(i)).filter((f) => !f.startsWith('.')) : [];
    assert.deepEqual(left, [], `${label} wrote ${left.join(', ')}`);
  });
});
