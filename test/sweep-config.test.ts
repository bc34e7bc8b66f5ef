import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSweepConfig, parseSweepConfig, resolveSweep } from '../src/sweep/config.js';
import { inShard, parseShard, resolveShard, shardFileName } from '../src/sweep/shard.js';
import { baseRow, dedupeRows, formatRows, readRows, writeRows, type SweepRow } from '../src/sweep/rows.js';
import { mergeSweeps } from '../src/sweep/merge.js';
import { sweepEntries } from '../src/sweep/models.js';
import { sweepModels } from '../src/sweep/run.js';
import { loadSpace } from '../src/space/space-config.js';
import { UsageError } from '../src/util/errors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sweep-cfg-'));
const spaceFile = new URL('../configs/spaces/regnetx_small.json', import.meta.url).pathname;
const base = { name: 't', space: 'regnetx_small', n: 8, seed: 3, dataset: 'mnist', overrides: { steps: 2 } };

test('every committed sweep config parses and samples its n models', () => {
  const dir = new URL('../configs/sweeps/', import.meta.url).pathname;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 2);
  for (const f of files) {
    const s = loadSweepConfig(join(dir, f));
    const models = sweepModels(s);
    assert.equal(models.length, s.config.n, f);
    const [lo, hi] = s.space!.constraints.flops ?? [0, Infinity];
    for (const m of models) assert.ok(m.flops >= lo && m.flops <= hi, `${f}: model ${m.id} flops ${m.flops}`);
  }
});

test('config errors name the field; constraints accept 5M-style quantities', () => {
  assert.throws(
    () => parseSweepConfig({ ...base, n: 0 }, 'x.json'),
    (e: Error) => e instanceof UsageError && /x\.json: invalid field 'n'/.test(e.message),
  );
  assert.throws(() => parseSweepConfig({ ...base, overrides: { epoch: 1 } }), /overrides/);
  assert.throws(() => parseSweepConfig({ ...base, engine: 'gpu' }), /engine/);
  assert.throws(
    () => parseSweepConfig({ ...base, device: 'gpu0' }, 'x.json'),
    /x\.json: invalid field 'device': expected cpu, cuda or cuda:N/,
  );
  assert.equal(parseSweepConfig({ ...base, device: 'cuda:1' }).device, 'cuda:1');
  assert.throws(() => parseSweepConfig({ ...base, constraints: { flops: ['9M', '1M'] } }), /MIN is larger/);
  const c = parseSweepConfig({ ...base, constraints: { flops: ['5M', '0.06G'] } });
  assert.deepEqual(c.constraints.flops, [5e6, 6e7]);
});

test("sweep names are one plain folder name: not '.', '..' or a path (the default output is runs/<name>)", () => {
  for (const name of ['..', '.', '../x', 'a/b', 'a\\b', '']) {
    assert.throws(
      () => parseSweepConfig({ ...base, name }, 'x.json'),
      (e: Error) => e instanceof UsageError && /x\.json: invalid field 'name'/.test(e.message),
      name,
    );
  }
  for (const name of ['a', 'study-1.v2', '..a', 'a..', '_x']) assert.equal(parseSweepConfig({ ...base, name }).name, name);
});

test('config hash: independent of key order, n, description, CUDA index; changes with seed, engine, schedule, space, threads, device kind', () => {
  const space = loadSpace(spaceFile);
  const h = (cfg: object) => resolveSweep(parseSweepConfig(cfg), space).hash;
  const h0 = h(base);
  assert.match(h0, /^[0-9a-f]{16}$/);
  const reordered = Object.fromEntries(Object.entries(base).reverse());
  assert.equal(h(reordered), h0);
  assert.equal(h({ ...base, n: 100, description: 'x', data_dir: '/elsewhere' }), h0);
  // unset threads = this machine's cores; device unset = cpu; which CUDA device does not matter
  assert.equal(h({ ...base, threads: availableParallelism() }), h0);
  assert.equal(h({ ...base, device: 'cpu' }), h0);
  assert.equal(h({ ...base, device: 'cuda:1' }), h({ ...base, device: 'cuda' }));
  assert.equal(h({ ...base, device: 'cuda:0' }), h({ ...base, device: 'cuda:3' }));
  for (const change of [
    { threads: availableParallelism() + 1 },
    { device: 'cuda' },
    { seed: 4 },
    { engine: 'torch' },
    { overrides: { steps: 3 } },
    { res: 28 },
    { limit_train: 10 },
    { constraints: { flops: [1e6, 2e6] } },
  ]) {
    assert.notEqual(h({ ...base, ...change }), h0, JSON.stringify(change));
  }
  // the space's content counts, not its name
  assert.notEqual(resolveSweep(parseSweepConfig(base), { ...space, res: 64 }).hash, h0);
});

test('loadSweepConfig: CLI flags override fields and the hash; space paths relative to the file', () => {
  const d = tmp();
  writeFileSync(join(d, 'my-space.json'), readFileSync(spaceFile));
  writeFileSync(join(d, 's.json'), JSON.stringify({ ...base, space: './my-space.json', res: 28, in_chans: 1 }));
  const a = loadSweepConfig(join(d, 's.json'));
  assert.equal(a.space!.res, 28);
  assert.equal(a.space!.in_chans, 1);
  const b = loadSweepConfig(join(d, 's.json'), { steps: 5, limitTrain: 100 });
  assert.equal(b.config.overrides.steps, 5);
  assert.equal(b.config.limit_train, 100);
  assert.notEqual(a.hash, b.hash);
  // --threads and --device override the config and enter the hash (a device index does not)
  const t = loadSweepConfig(join(d, 's.json'), { threads: availableParallelism() + 1 });
  assert.equal(t.config.threads, availableParallelism() + 1);
  assert.notEqual(t.hash, a.hash);
  assert.equal(loadSweepConfig(join(d, 's.json'), { threads: availableParallelism() }).hash, a.hash);
  const g = loadSweepConfig(join(d, 's.json'), { device: 'cuda:1' });
  assert.equal(g.config.device, 'cuda:1');
  assert.notEqual(g.hash, a.hash);
  assert.equal(loadSweepConfig(join(d, 's.json'), { device: 'cuda' }).hash, g.hash);
  assert.throws(() => loadSweepConfig(join(d, 'nope.json')), UsageError);
});

test('shard arithmetic: the N shards partition the models, each taking index % N == I', () => {
  const ids = Array.from({ length: 23 }, (_, i) => i);
  for (const n of [1, 2, 3, 5, 23, 30]) {
    const parts = Array.from({ length: n }, (_, i) => ids.filter((id) => inShard(id, { index: i, count: n, source: '' })));
    const union = parts.flat().sort((a, b) => a - b);
    assert.deepEqual(union, ids, `n=${n}: union is everything, no overlap`);
    parts.forEach((p, i) => p.forEach((id) => assert.equal(id % n, i)));
  }
  assert.ok(ids.every((id) => inShard(id, undefined)));
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5, source: '--shard' });
  for (const bad of ['5/5', '1/0', 'a/b', '1', '-1/3']) assert.throws(() => parseShard(bad), UsageError, bad);
  assert.equal(shardFileName({ index: 2, count: 5, source: '' }), 'sweep.shard-2-of-5.csv');
  assert.equal(shardFileName({ index: 0, count: 1, source: '' }), 'sweep.csv');
  assert.equal(shardFileName(undefined), 'sweep.csv');
});

test('shard from Slurm array and Kubernetes indexed-job variables', () => {
  const pick = (opts: object, env: NodeJS.ProcessEnv) => {
    const s = resolveShard(opts, env);
    return s && [s.index, s.count];
  };
  assert.equal(resolveShard({}, {}), undefined);
  assert.deepEqual(pick({}, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }), [3, 4]);
  // --array=1-4: ids 1..4, min 1
  assert.deepEqual(pick({}, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' }), [0, 4]);
  assert.deepEqual(pick({}, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' }), [3, 4]);
  assert.throws(() => resolveShard({}, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }), /outside 0..3/);
  assert.throws(() => resolveShard({}, { SLURM_ARRAY_TASK_ID: '1' }), /SLURM_ARRAY_TASK_COUNT/);
  assert.deepEqual(pick({ shards: 8 }, { SLURM_ARRAY_TASK_ID: '5' }), [5, 8]);
  assert.deepEqual(pick({}, { JOB_COMPLETION_INDEX: '2', REGNET_SHARDS: '3' }), [2, 3]);
  assert.deepEqual(pick({ shards: 6 }, { JOB_COMPLETION_INDEX: '5', REGNET_SHARDS: '3' }), [5, 6]);
  assert.throws(() => resolveShard({}, { JOB_COMPLETION_INDEX: '2' }), /REGNET_SHARDS/);
  assert.throws(() => resolveShard({}, { JOB_COMPLETION_INDEX: 'x', REGNET_SHARDS: '3' }), /JOB_COMPLETION_INDEX/);
  // an explicit --shard wins over the environment
  assert.deepEqual(pick({ shard: '1/2' }, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }), [1, 2]);
  assert.throws(() => resolveShard({ shards: 4 }, {}), /shard index/);
});

function rows(hash: string, ids: number[], status: SweepRow['status'] = 'ok'): SweepRow[] {
  const s = loadSweepConfig(join(new URL('../configs/sweeps/', import.meta.url).pathname, 'study-fashion-regnetx.json'));
  const models = sweepEntries({ ...s, config: { ...s.config, n: Math.max(...ids) + 1 } });
  const ctx = { sweep: 'sw', hash, seed: 0, dataset: 'mnist', res: 28, device: 'cpu', threads: 2 };
  return ids.map((id) => ({
    ...baseRow(models[id]!, ctx, 7, 1),
    status,
    top1: status === 'ok' ? 50 + id : NaN,
    top1_err: status === 'ok' ? 50 - id : NaN,
  }));
}

test('rows: CSV round trip is exact and sorted by id; blanks for AnyNet-only and missing numbers', () => {
  const d = tmp();
  const r = rows('0123456789abcdef', [3, 0, 2]);
  writeRows(join(d, 'a.csv'), r);
  const back = readRows(join(d, 'a.csv'));
  assert.deepEqual(
    back.map((x) => x.id),
    [0, 2, 3],
  );
  assert.deepEqual(
    back,
    [...r].sort((a, b) => a.id - b.id),
  );
  assert.equal(formatRows(back), readFileSync(join(d, 'a.csv'), 'utf8'));
  writeFileSync(join(d, 'bad.csv'), readFileSync(join(d, 'a.csv'), 'utf8').replace(',ok,', ',great,'));
  assert.throws(() => readRows(join(d, 'bad.csv')), /bad\.csv row 1: column 'status'/);
});

test('dedupe: final rows beat failed ones, more attempts beat fewer, sorted', () => {
  const h = 'aaaaaaaaaaaaaaaa';
  const failed = rows(h, [1, 2], 'failed');
  const ok = rows(h, [2, 0]);
  const f3 = { ...failed[0]!, attempts: 3 };
  const { rows: out, duplicates } = dedupeRows([...failed, ...ok, f3]);
  assert.deepEqual(
    out.map((r) => [r.id, r.status]),
    [
      [0, 'ok'],
      [1, 'failed'],
      [2, 'ok'],
    ],
  );
  assert.equal(out[1]!.attempts, 3);
  assert.equal(duplicates, 2);
});

test('merge: folders and files, dedupe by id, sorted; refuses mixed configs; reports missing ids', () => {
  const d = tmp();
  const h = 'bbbbbbbbbbbbbbbb';
  writeRows(join(d, 'sweep.shard-0-of-2.csv'), rows(h, [0, 2, 4]));
  writeRows(join(d, 'sweep.shard-1-of-2.csv'), rows(h, [1, 3]));
  writeRows(join(d, 'extra.csv'), rows(h, [3, 5], 'failed'));
  writeFileSync(join(d, 'sweep.json'), JSON.stringify({ config_hash: h, n: 7 }));
  const out = join(d, 'merged', 'all.csv');
  const m = mergeSweeps([d, join(d, 'extra.csv')], out);
  assert.equal(m.files.length, 3);
  assert.deepEqual(
    readRows(out).map((r) => [r.id, r.status]),
    [
      [0, 'ok'],
      [1, 'ok'],
      [2, 'ok'],
      [3, 'ok'],
      [4, 'ok'],
      [5, 'failed'],
    ],
  );
  assert.equal(m.duplicates, 1);
  assert.deepEqual(m.missing, [6]);
  // merging again (output among the inputs) changes nothing
  const again = mergeSweeps([out, d], out);
  assert.deepEqual(readRows(out), m.rows);
  assert.equal(again.rows.length, 6);
  writeRows(join(d, 'other.csv'), rows('cccccccccccccccc', [9]));
  assert.throws(() => mergeSweeps([d, join(d, 'other.csv')], out), /different sweep configs/);
  assert.throws(() => mergeSweeps([join(d, 'nope')], out), UsageError);
});
