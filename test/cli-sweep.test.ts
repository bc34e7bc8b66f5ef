/**
 * `regnet sweep` / `regnet merge` as processes with the real trainer on a tiny workload: kill -9 after the
 * second model and rerun, Ctrl-C (exit 130) and rerun, --workers equal to the sequential run, Slurm
 * array variables, merge exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRows, type SweepRow } from '../src/sweep/rows.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { SWEEP_ENGINE as ENGINE, writeTinySweep } from './helpers/sweep-config.js';

const dir = mkdtempSync(join(tmpdir(), 'sweep-cli-'));
const cfg = writeTinySweep(dir, 'tiny.json', 'tiny');

/** `regnet ARGS` with extra environment variables, without a time limit. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env, timeoutMs: 0 });

/** Everything but the wall-clock columns. */
const stable = (rows: SweepRow[]) => rows.map(({ train_seconds: _t, images_per_sec: _i, ...rest }) => rest);

test('kill -9 after the second model, rerun: exactly 4 rows, distinct ids, first rows kept', () => {
  const out = join(dir, 'killed');
  const a = cli(['sweep', cfg, '--out', out], { REGNET_SWEEP_KILL_AFTER: '2' });
  assert.equal(a.signal, 'SIGKILL', a.stderr);
  const first = readRows(join(out, 'sweep.csv'));
  assert.deepEqual(
    first.map((r) => r.id),
    [0, 1],
  );
  const b = cli(['sweep', cfg, '--out', out]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /4\/4 models \(4 ok, 0 diverged, 0 failed; 2 trained now, 2 already done\)/);
  const rows = readRows(join(out, 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => r.id),
    [0, 1, 2, 3],
  );
  assert.deepEqual(rows.slice(0, 2), first);
  assert.ok(rows.every((r) => r.status === 'ok' && r.steps === 2 && r.engine === ENGINE));

  // Slurm array task 2 of 1..2 (min 1): shard 1/2, ids 1 and 3, carried over from sweep.csv, nothing trained
  const s = cli(['sweep', cfg, '--out', out], { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '1' });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /shard 1\/2 \(Slurm array task 2/);
  assert.deepEqual(
    readRows(join(out, 'sweep.shard-1-of-2.csv')).map((r) => r.id),
    [1, 3],
  );

  // merge: the folder's files dedupe to the same 4 rows; mixed configs are a usage error (exit 2)
  const m = cli(['merge', out, '--out', join(dir, 'merged.csv')]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stderr, /4 models \(2 duplicate rows dropped\).*complete/);
  assert.deepEqual(readRows(join(dir, 'merged.csv')), rows);
  writeFileSync(join(dir, 'other.csv'), readFileSync(join(out, 'sweep.csv'), 'utf8').replace(/,[0-9a-f]{16}\n/g, ',ffffffffffffffff\n'));
  const bad = cli(['merge', out, join(dir, 'other.csv'), '--out', join(dir, 'x.csv')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^regnet: error: merge: the files come from different sweep configs/);
  assert.ok(!existsSync(join(dir, 'x.csv')));

  // --workers 2: two shard processes, merged into sweep.csv, equal to the sequential rows
  const w = join(dir, 'workers');
  const r = cli(['sweep', cfg, '--out', w, '--workers', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\[worker 1\] .*shard 1\/2/);
  assert.deepEqual(stable(readRows(join(w, 'sweep.csv'))), stable(rows));
});

test('Ctrl-C stops cleanly with exit 130; the rerun finishes without duplicates', async () => {
  const out = join(dir, 'sigint');
  // longer models so the interrupt lands inside one
  const child = spawnCli(['sweep', cfg, '--out', out, '--steps', '40']);
  let err = '';
  let sent = false;
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    if (!sent && /model 1 \(2\/4\)/.test(err)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.equal(code, 130, err);
  assert.match(err, /interrupted/);
  const part = readRows(join(out, 'sweep.csv'));
  assert.ok(part.length >= 1 && part.length < 4, `rows after interrupt: ${part.length}`);
  const again = cli(['sweep', cfg, '--out', out, '--steps', '40']);
  assert.equal(again.code, 0, again.stderr);
  // the interrupted model continues from the checkpoint the trainer wrote on the way out
  assert.match(again.stderr, new RegExp(`model ${part.length} \\(.*resuming from checkpoint`));
  const rows = readRows(join(out, 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => r.id),
    [0, 1, 2, 3],
  );
  assert.ok(rows.every((r) => r.steps === 40 && r.attempts === 1));
});

test('usage errors exit 2 with one line', () => {
  const a = cli(['sweep', join(dir, 'missing.json')]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /^regnet: error: unknown sweep config/);
  const b = cli(['sweep', cfg, '--shard', '3/2']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /shard index 3 is outside 0..1/);
});
