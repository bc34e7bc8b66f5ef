/**
 * The sweep runner with an injected trainer: resume after an interrupt, failures, retries, divergence,
 * shards equal to the unsharded run, foreign files, the folder lock, environment errors that stop the sweep,
 * leftovers of killed runs. A last test runs the real trainer on a tiny workload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSweepConfig, resolveSweep, type ResolvedSweep } from '../src/sweep/config.js';
import { mergeSweeps } from '../src/sweep/merge.js';
import { lockSweepFolder } from '../src/sweep/lock.js';
import { readRows } from '../src/sweep/rows.js';
import { sweepEntries } from '../src/sweep/models.js';
import { runSweep, sweepModels, trainSeed, type TrainFn } from '../src/sweep/run.js';
import { loadSpace } from '../src/space/space-config.js';
import type { TrainRequest, TrainResult } from '../src/train/types.js';
import { tempPathFor } from '../src/util/atomic.js';
import { isUsageError, SetupError, UsageError } from '../src/util/errors.js';
import { trainEngine } from './helpers/fixtures.js';

/** torch where its addon is built, else the embedded wasm engine: the sweep logic is the same on both. */
const ENGINE = trainEngine();

const tmp = () => mkdtempSync(join(tmpdir(), 'sweep-run-'));
const space = loadSpace(new URL('../configs/spaces/anynetx_small.json', import.meta.url).pathname);

function sweep(n: number, extra: object = {}): ResolvedSweep {
  return resolveSweep(
    parseSweepConfig({ name: 'fake', space: 'anynetx_small', n, seed: 11, dataset: 'mnist', overrides: { steps: 4 }, ...extra }),
    space,
  );
}

/** Model ids by canonical name (the sampler is sequential: the first 64 models of seed 11 cover every test). */
const IDS = new Map(sweepEntries(sweep(64)).map((m) => [m.name, m.id]));
const idOf = (req: TrainRequest) => IDS.get(req.model.name)!;
const nameOf = (id: number) => [...IDS].find(([, i]) => i === id)![0];

/** A deterministic stand-in: 4 "steps" recorded in a checkpoint file, accuracy from the seed and spec. */
function fakeTrainer(
  opts: { failIds?: Map<number, number>; divergeIds?: number[]; abortAtCall?: { call: number; ac: AbortController } } = {},
) {
  const calls: TrainRequest[] = [];
  const fn: TrainFn = async (req) => {
    calls.push(req);
    const id = idOf(req);
    const left = opts.failIds?.get(id) ?? 0;
    if (left > 0) {
      opts.failIds!.set(id, left - 1);
      throw new Error(`boom on model ${id}\nstack line`);
    }
    const stateFile = join(req.checkpointDir!, 'state.json');
    let step = req.resume && existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { step: number }).step : 0;
    for (; step < 4; step++) {
      if (opts.abortAtCall && calls.length === opts.abortAtCall.call && step === 2) opts.abortAtCall.ac.abort();
      if (req.signal?.aborted) {
        mkdirSync(req.checkpointDir!, { recursive: true });
        writeFileSync(stateFile, JSON.stringify({ step }));
        return result(req, 'interrupted', NaN);
      }
    }
    if (opts.divergeIds?.includes(id)) return result(req, 'diverged', NaN);
    const widths = req.model.spec.kind === 'anynet' ? req.model.spec.stages.map((s) => s.width) : [];
    return result(req, 'ok', 50 + (req.seed % 4000) / 100 + widths[0]! / 1000);
  };
  return { fn, calls };
}

function result(req: TrainRequest, status: TrainResult['status'], top1: number): TrainResult {
  return {
    status,
    model: req.model.name,
    dataset: req.dataset,
    engine: 'torch',
    top1,
    top5: Math.min(100, top1 + 20),
    epochs: 1,
    steps: 4,
    trainSeconds: 1.25,
    imagesPerSec: 321.5,
    finalLoss: status === 'diverged' ? NaN : 0.5,
    params: 0,
    flops: 0,
    acts: 0,
    imgSize: 32,
  };
}

test('interrupted mid-model: no row for it; the rerun resumes it from its checkpoint; no duplicates', async () => {
  const d = tmp();
  const s = sweep(4);
  const ac = new AbortController();
  const t1 = fakeTrainer({ abortAtCall: { call: 3, ac } });
  const a = await runSweep({ sweep: s, outDir: d, trainer: t1.fn, signal: ac.signal });
  assert.equal(a.interrupted, true);
  assert.deepEqual(
    readRows(join(d, 'sweep.csv')).map((r) => r.id),
    [0, 1],
  );
  assert.ok(existsSync(join(d, 'checkpoints', nameOf(2), 'state.json')), 'model in flight left its checkpoint');
  assert.ok(!existsSync(join(d, 'checkpoints', nameOf(0))), 'finished models clean up');

  const t2 = fakeTrainer();
  const b = await runSweep({ sweep: s, outDir: d, trainer: t2.fn });
  assert.equal(b.interrupted, false);
  assert.deepEqual(
    t2.calls.map((c) => [idOf(c), c.resume]),
    [
      [2, true],
      [3, false],
    ],
  );
  const rows = readRows(join(d, 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => r.id),
    [0, 1, 2, 3],
  );
  assert.ok(rows.every((r) => r.status === 'ok' && r.attempts === 1 && r.config_hash === s.hash));

  // the same result as an uninterrupted run
  const d2 = tmp();
  await runSweep({ sweep: s, outDir: d2, trainer: fakeTrainer().fn });
  assert.equal(readFileSync(join(d2, 'sweep.csv'), 'utf8'), readFileSync(join(d, 'sweep.csv'), 'utf8'));
  // a third run trains nothing
  const t3 = fakeTrainer();
  const c = await runSweep({ sweep: s, outDir: d, trainer: t3.fn });
  assert.equal(t3.calls.length, 0);
  assert.equal(c.skipped, 4);
});

test('rows carry the sampled design, the result and the bookkeeping', async () => {
  const d = tmp();
  const s = sweep(3);
  await runSweep({ sweep: s, outDir: d, trainer: fakeTrainer().fn });
  const rows = readRows(join(d, 'sweep.csv'));
  const models = sweepModels(s);
  rows.forEach((r, i) => {
    const m = models[i]!;
    assert.deepEqual(
      [r.stage_widths, r.stage_depths, r.stage_group_widths, r.stage_bottle_ratios],
      [m.stage_widths, m.stage_depths, m.stage_group_widths, m.stage_bottle_ratios],
    );
    assert.deepEqual([r.params, r.flops, r.acts, r.depth], [m.params, m.flops, m.acts, m.depth]);
    assert.ok(Number.isNaN(r.w0) && Number.isNaN(r.group_size), 'AnyNet rows leave the RegNet parameters blank');
    assert.equal(r.train_seed, trainSeed(11, i));
    const top1 = Number((50 + (r.train_seed % 4000) / 100 + m.stage_widths[0]! / 1000).toFixed(3));
    assert.equal(r.top1, top1);
    assert.equal(r.top1_err, Number((100 - top1).toFixed(3)));
    assert.deepEqual(
      [r.space, r.kind, r.engine, r.seed, r.train_seconds, r.images_per_sec, r.sweep],
      ['anynetx_small', 'anynet', 'torch', 11, 1.25, 321.5, 'fake'],
    );
  });
  assert.equal(new Set(rows.map((r) => r.train_seed)).size, 3, 'each model its own seed');
});

test('a crashing model is recorded as failed and the sweep goes on; --retries retries it, also on a rerun', async () => {
  const d = tmp();
  const s = sweep(4);
  const t = fakeTrainer({ failIds: new Map([[1, 5]]), divergeIds: [2] });
  const sum = await runSweep({ sweep: s, outDir: d, trainer: t.fn });
  const rows = readRows(join(d, 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => [r.id, r.status]),
    [
      [0, 'ok'],
      [1, 'failed'],
      [2, 'diverged'],
      [3, 'ok'],
    ],
  );
  assert.equal(rows[1]!.error, 'boom on model 1');
  assert.equal(rows[1]!.attempts, 1);
  assert.ok(Number.isNaN(rows[2]!.top1));
  assert.equal(rows[2]!.error, 'loss diverged');
  assert.deepEqual([sum.ok, sum.failed, sum.diverged], [2, 1, 1]);

  // rerun without retries: nothing to do; with --retries 2: two more tries (fails, then... still fails: 4 left)
  assert.equal((await runSweep({ sweep: s, outDir: d, trainer: t.fn })).trained, 0);
  await runSweep({ sweep: s, outDir: d, trainer: t.fn, retries: 2 });
  let r1 = readRows(join(d, 'sweep.csv'))[1]!;
  assert.deepEqual([r1.status, r1.attempts], ['failed', 3]);
  // more retries allowed: 2 more failures left, then success on attempt 6
  await runSweep({ sweep: s, outDir: d, trainer: t.fn, retries: 5 });
  r1 = readRows(join(d, 'sweep.csv'))[1]!;
  assert.deepEqual([r1.status, r1.attempts, r1.error], ['ok', 6, '']);
  assert.equal(readRows(join(d, 'sweep.csv')).length, 4);
  // diverged is final: never retried
  assert.equal(t.calls.filter((c) => idOf(c) === 2).length, 1);
});

test('shards: their union equals the unsharded sweep, no overlap; merge restores the same file', async () => {
  const s = sweep(7);
  const seq = tmp();
  await runSweep({ sweep: s, outDir: seq, trainer: fakeTrainer().fn });
  const par = tmp();
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const t = fakeTrainer();
    const sum = await runSweep({ sweep: s, outDir: par, shard: { index: i, count: 3, source: 'test' }, trainer: t.fn });
    seen.push(...t.calls.map((c) => c.model.name));
    assert.equal(sum.file, join(par, `sweep.shard-${i}-of-3.csv`));
    assert.deepEqual(
      readRows(sum.file).map((r) => r.id),
      [0, 1, 2, 3, 4, 5, 6].filter((id) => id % 3 === i),
    );
  }
  assert.equal(seen.length, 7);
  assert.equal(new Set(seen).size, 7);
  const m = mergeSweeps([par], join(par, 'sweep.csv'));
  assert.deepEqual(m.missing, []);
  assert.equal(readFileSync(join(par, 'sweep.csv'), 'utf8'), readFileSync(join(seq, 'sweep.csv'), 'utf8'));
});

test('a model finished in another file of the folder is not trained again and its row is carried over', async () => {
  const s = sweep(4);
  const d = tmp();
  await runSweep({ sweep: s, outDir: d, shard: { index: 0, count: 2, source: 'test' }, trainer: fakeTrainer().fn });
  const t = fakeTrainer();
  await runSweep({ sweep: s, outDir: d, trainer: t.fn });
  assert.deepEqual(t.calls.map(idOf), [1, 3]);
  assert.deepEqual(
    readRows(join(d, 'sweep.csv')).map((r) => r.id),
    [0, 1, 2, 3],
  );
});

test('an output file of another sweep config is refused', async () => {
  const d = tmp();
  await runSweep({ sweep: sweep(2), outDir: d, trainer: fakeTrainer().fn });
  await assert.rejects(runSweep({ sweep: sweep(2, { seed: 12 }), outDir: d, trainer: fakeTrainer().fn }), /another sweep config/);
  // raising n extends the same sweep
  const t = fakeTrainer();
  await runSweep({ sweep: sweep(3), outDir: d, trainer: t.fn });
  assert.deepEqual(t.calls.map(idOf), [2]);
});

/** A pid no process has: a process that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

/** A trainer that waits inside its first call until `open()`; `inside` resolves once it is there. */
function gatedTrainer() {
  const inner = fakeTrainer();
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const inside = new Promise<void>((r) => (entered = r));
  const fn: TrainFn = async (req) => {
    entered();
    await gate;
    return inner.fn(req);
  };
  return { fn, calls: inner.calls, open, inside };
}

const busyError = (e: unknown) =>
  e instanceof UsageError &&
  !e.message.includes('\n') &&
  /is busy/.test(e.message) &&
  e.message.includes(`pid ${process.pid} on ${hostname()}`);

test('one run per folder and shard: others are refused naming the holder; shards of one layout run side by side; dead holders are taken over', async () => {
  const s = sweep(4);
  const d = tmp();
  const a = gatedTrainer();
  const running = runSweep({ sweep: s, outDir: d, trainer: a.fn });
  await a.inside;
  // a second whole run, a shard, a --workers parent: all refused while the first trains, nothing trained
  const other = fakeTrainer();
  await assert.rejects(runSweep({ sweep: s, outDir: d, trainer: other.fn }), busyError);
  await assert.rejects(runSweep({ sweep: s, outDir: d, shard: { index: 1, count: 2, source: 'test' }, trainer: other.fn }), busyError);
  assert.throws(() => lockSweepFolder(d, undefined, { purpose: 'sweep --workers 2 (parent)' }), busyError);
  assert.equal(other.calls.length, 0);
  a.open();
  const done = await running;
  assert.deepEqual([done.ok, done.failed], [4, 0]);
  assert.deepEqual(
    readdirSync(d).filter((f) => f.endsWith('.lock')),
    [],
    'released',
  );

  // shards of one layout side by side; another layout or a whole run beside them is refused
  const e = tmp();
  const shard0 = gatedTrainer();
  const first = runSweep({ sweep: s, outDir: e, shard: { index: 0, count: 2, source: 'test' }, trainer: shard0.fn });
  await shard0.inside;
  const b = await runSweep({ sweep: s, outDir: e, shard: { index: 1, count: 2, source: 'test' }, trainer: fakeTrainer().fn });
  assert.equal(b.ok, 2);
  await assert.rejects(
    runSweep({ sweep: s, outDir: e, shard: { index: 0, count: 3, source: 'test' }, trainer: fakeTrainer().fn }),
    busyError,
  );
  await assert.rejects(runSweep({ sweep: s, outDir: e, trainer: fakeTrainer().fn }), busyError);
  shard0.open();
  assert.equal((await first).ok, 2);

  // a --workers child runs its shard under its parent's folder lock, and only under its parent's
  const f = tmp();
  const parent = lockSweepFolder(f, undefined, { purpose: 'sweep --workers 2 (parent)' });
  try {
    await assert.rejects(
      runSweep({ sweep: s, outDir: f, shard: { index: 0, count: 2, source: 'test' }, trainer: fakeTrainer().fn }),
      busyError,
    );
    await assert.rejects(
      runSweep({
        sweep: s,
        outDir: f,
        shard: { index: 0, count: 2, source: 'test' },
        parentPid: process.pid + 1,
        trainer: fakeTrainer().fn,
      }),
      busyError,
    );
    const child = await runSweep({
      sweep: s,
      outDir: f,
      shard: { index: 0, count: 2, source: 'test' },
      parentPid: process.pid,
      trainer: fakeTrainer().fn,
    });
    assert.equal(child.ok, 2);
  } finally {
    parent.release();
  }

  // the locks of killed runs (the folder's and a shard's) are taken over
  const g = tmp();
  for (const name of ['.sweep.lock', '.sweep.shard-1-of-3.lock']) {
    writeFileSync(join(g, name), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then', purpose: 'killed sweep' }));
  }
  assert.equal((await runSweep({ sweep: s, outDir: g, trainer: fakeTrainer().fn })).ok, 4);
  assert.deepEqual(
    readdirSync(g).filter((x) => x === '.sweep.lock'),
    [],
  );
});

test('environment errors stop the sweep before the model: no failed row, the checkpoint kept; the rerun trains every model', async () => {
  const s = sweep(4);
  const d = tmp();
  const t = fakeTrainer();
  const broken: TrainFn = async (req) => {
    if (idOf(req) === 2) {
      mkdirSync(req.checkpointDir!, { recursive: true });
      writeFileSync(join(req.checkpointDir!, 'state.json'), JSON.stringify({ step: 1 }));
      throw new SetupError('cifar10: not bundled; pass --data-dir');
    }
    return t.fn(req);
  };
  await assert.rejects(
    runSweep({ sweep: s, outDir: d, trainer: broken, retries: 3 }),
    (e: unknown) => e instanceof SetupError && /not bundled/.test(e.message),
  );
  assert.deepEqual(
    readRows(join(d, 'sweep.csv')).map((r) => [r.id, r.status]),
    [
      [0, 'ok'],
      [1, 'ok'],
    ],
  );
  assert.ok(existsSync(join(d, 'checkpoints', nameOf(2), 'state.json')), 'an environment error is no reason to drop the checkpoint');
  assert.deepEqual(
    readdirSync(d).filter((f) => f.endsWith('.lock')),
    [],
  );

  // the preflight runs once, before anything is written, and not at all when every model is done
  const e = tmp();
  let checks = 0;
  const failing = async () => {
    checks++;
    throw new SetupError('engine torch is not available');
  };
  const none = fakeTrainer();
  await assert.rejects(runSweep({ sweep: s, outDir: e, trainer: none.fn, preflight: failing }), /engine torch is not available/);
  assert.equal(none.calls.length, 0);
  assert.deepEqual(readdirSync(e), [], 'nothing written');

  // fixed: everything trains, all ok
  const fixed = fakeTrainer();
  const sum = await runSweep({ sweep: s, outDir: d, trainer: fixed.fn, preflight: async () => void checks++ });
  assert.deepEqual(
    fixed.calls.map((c) => [idOf(c), c.resume]),
    [
      [2, true],
      [3, false],
    ],
  );
  assert.deepEqual([sum.ok, sum.failed], [4, 0]);
  assert.equal(checks, 2);
  await runSweep({ sweep: s, outDir: d, trainer: fixed.fn, preflight: failing });
  assert.equal(checks, 2, 'nothing to train: no preflight');

  // the real trainer: a dataset that cannot be read here is a SetupError, not a failed row
  const { trainModel } = await import('../src/train/run.js');
  const f = tmp();
  await assert.rejects(
    runSweep({ sweep: sweep(2, { dataset: 'cifar10', data_dir: tmp() }), outDir: f, trainer: trainModel }),
    (x: unknown) => x instanceof SetupError,
  );
  assert.deepEqual(readRows(join(f, 'sweep.csv')), []);
});

test('the preflight refuses what no model could train with: dataset, data_dir, recipe, engine (SetupError, one line)', async () => {
  const { checkSweepSetup } = await import('../src/sweep/preflight.js');
  const { listEngines } = await import('../src/engine/select.js');
  const empty = tmp();
  mkdirSync(join(empty, 'train', 'cat'), { recursive: true });
  writeFileSync(join(empty, 'train', 'cat', 'a.png'), '');
  const unavailable = (await listEngines()).find((e) => !e.available)?.engine;
  // an unknown dataset or recipe is refused with the config itself, naming the field
  assert.throws(
    () => sweep(2, { dataset: 'svhn' }),
    (e: unknown) => isUsageError(e) && /invalid field 'dataset'/.test((e as Error).message),
  );
  assert.throws(
    () => sweep(2, { recipe: 'no-such-recipe' }),
    (e: unknown) => isUsageError(e) && /invalid field 'recipe': 'no-such-recipe' is neither a built-in recipe/.test((e as Error).message),
  );
  const cases: Array<[object, RegExp]> = [
    [{ data_dir: join(empty, 'missing') }, /data_dir '.*missing' is not a folder here/],
    [{ data_dir: empty }, /mnist|idx|no such|not found/i],
    [{ dataset: 'folder' }, /needs data_dir/],
    [{ dataset: 'folder', data_dir: empty }, /has no val\//],
    ...(unavailable ? [[{ engine: unavailable }, new RegExp(`engine ${unavailable} is not available`)] as [object, RegExp]] : []),
  ];
  for (const [extra, message] of cases) {
    const s = { ...sweep(2, { res: 28, in_chans: 1, ...extra }), file: '/cfg/s.json' };
    await assert.rejects(
      checkSweepSetup(s),
      (e: unknown) =>
        e instanceof SetupError && e.message.startsWith('/cfg/s.json: ') && message.test(e.message) && !e.message.includes('\n'),
      JSON.stringify(extra),
    );
  }
  await checkSweepSetup(sweep(2, { res: 28, in_chans: 1, engine: ENGINE }));
  // 'quick' (a --workers parent) leaves reading the dataset to the workers
  await checkSweepSetup(sweep(2, { res: 28, in_chans: 1, data_dir: empty }), 'quick');
});

test('leftovers of killed runs: temp files of killed writes and checkpoints of finished models are removed at start', async () => {
  const s = sweep(3);
  const d = tmp();
  await runSweep({ sweep: s, outDir: d, trainer: fakeTrainer().fn });
  // a run killed after model 1's row was written, before its checkpoint was removed
  mkdirSync(join(d, 'checkpoints', nameOf(1)), { recursive: true });
  writeFileSync(join(d, 'checkpoints', nameOf(1), 'state.json'), '{}');
  // a writer killed between its temp file and the rename (same host, its process gone)
  const stale = tempPathFor(join(d, 'sweep.csv')).replace(`.${process.pid}.`, `.${deadPid()}.`);
  writeFileSync(stale, 'id,status\n');
  const t = fakeTrainer();
  await runSweep({ sweep: s, outDir: d, trainer: t.fn });
  assert.equal(t.calls.length, 0);
  assert.ok(!existsSync(stale), 'stale temp file removed');
  assert.deepEqual(readdirSync(join(d, 'checkpoints')), [], 'checkpoints of finished models removed');
});

test('real trainer, tiny workload: rows match the trained networks', async () => {
  const { trainModel } = await import('../src/train/run.js');
  const results: TrainResult[] = [];
  const trainer: TrainFn = async (req) => {
    const r = await trainModel(req);
    results.push(r);
    return r;
  };
  const s = resolveSweep(
    parseSweepConfig({
      name: 'tiny',
      space: 'regnetx_small',
      n: 2,
      seed: 5,
      dataset: 'mnist',
      recipe: 'quick',
      engine: ENGINE,
      threads: 2,
      overrides: { steps: 2, batchSize: 16 },
      limit_train: 64,
      limit_val: 50,
      res: 28,
      in_chans: 1,
      constraints: { flops: ['1M', '6M'] },
    }),
    loadSpace(new URL('../configs/spaces/regnetx_small.json', import.meta.url).pathname),
  );
  const d = tmp();
  const sum = await runSweep({ sweep: s, outDir: d, trainer });
  assert.equal(sum.ok, 2);
  const rows = readRows(join(d, 'sweep.csv'));
  rows.forEach((r, i) => {
    const x = results[i]!;
    // the sampler's analytic complexity (at the sweep's res/in_chans) is that of the network trained
    assert.deepEqual([r.params, r.flops, r.acts], [x.params, x.flops, x.acts]);
    assert.equal(r.top1, Number(x.top1.toFixed(3)));
    assert.equal(r.steps, 2);
    assert.ok(r.top1 >= 0 && r.top1 <= 100 && r.images_per_sec > 0);
    assert.equal(r.engine, ENGINE);
  });
});
