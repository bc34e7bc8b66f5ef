/**
 * `regnet sweep` processes sharing an output folder, and a sweep's environment: a busy folder or shard is
 * refused in one line naming the holder; a --workers parent killed with SIGKILL takes its workers down
 * (each checkpoints its model in flight) and the rerun takes the locks over; environment errors refuse
 * the sweep before its first model without recording anything; a sweep named `..` writes nothing into the
 * working folder.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRows } from '../src/sweep/rows.js';
import { readCheckpointState } from '../src/train/checkpoint.js';
import { ROOT, runCli, spawnCli } from './helpers/cli.js';
import { writeTinySweep } from './helpers/sweep-config.js';
import { groupEnded } from './helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'sweep-lock-'));

const config = (file: string, extra: object): string => writeTinySweep(dir, file, 'guard', extra);

const cli = (args: string[], cwd = ROOT) => runCli(args, { cwd, timeoutMs: 90_000 });

const groups: number[] = [];
// whatever a failed test left running
after(() => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* ended */
    }
  }
});

/** A CLI process in its own process group, with its stderr collected. */
function start(args: string[]) {
  const child = spawnCli(args, { detached: true });
  groups.push(child.pid!);
  let err = '';
  const waiters: Array<() => void> = [];
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    for (const w of waiters) w();
  });
  const exit = new Promise<{ code: number | null; signal: string | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  const waitFor = (patterns: RegExp[], timeoutMs = 90_000) =>
    new Promise<void>((res, rej) => {
      const check = () => patterns.every((p) => p.test(err)) && res();
      waiters.push(check);
      check();
      setTimeout(() => rej(new Error(`timed out waiting for ${patterns.join(', ')}; stderr:\n${err}`)), timeoutMs).unref();
    });
  return { child, exit, waitFor, stderr: () => err };
}

const oneLine = (stderr: string) => stderr.trim().split('\n').length === 1;

test('a busy folder or shard is refused in one line naming the holder; a --workers parent killed with SIGKILL takes its workers down; the rerun takes over', async () => {
  // long models (2000 steps), so every kill lands inside one
  const long = config('long.json', { overrides: { steps: 2000, batchSize: 8 }, limit_train: 4000 });
  const out = join(dir, 'busy');
  const first = start(['sweep', long, '--out', out, '--workers', '2']);
  await first.waitFor([/\[worker 0\] model 0 \(/, /\[worker 1\] model 1 \(/]);
  const parent = first.child.pid!;

  const whole = cli(['sweep', long, '--out', out]);
  assert.equal(whole.code, 2, whole.stderr);
  assert.ok(oneLine(whole.stderr), whole.stderr);
  assert.match(
    whole.stderr,
    new RegExp(`^regnet: error: sweep folder .* is busy: .*\\.sweep\\.lock.* held by pid ${parent} on ${hostname()}`),
  );
  const worker1 = (JSON.parse(readFileSync(join(out, '.sweep.shard-1-of-2.lock'), 'utf8')) as { pid: number }).pid;
  const shard = cli(['sweep', long, '--out', out, '--shard', '1/2']);
  assert.equal(shard.code, 2, shard.stderr);
  assert.ok(oneLine(shard.stderr.replace(/^shard 1\/2 .*\n/, '')), shard.stderr);
  assert.match(shard.stderr, new RegExp(`regnet: error: sweep folder .* is busy: .* held by pid ${worker1} on ${hostname()}`));

  // SIGKILL the parent alone: its workers notice, checkpoint the model in flight and exit
  process.kill(parent, 'SIGKILL');
  assert.ok(await groupEnded(parent, 30_000), `workers outlived their parent:\n${first.stderr()}`);
  // checkpoint folders are named by model: the two in flight
  const inFlight = readdirSync(join(out, 'checkpoints'));
  assert.equal(inFlight.length, 2, inFlight.join(' '));
  for (const id of inFlight) {
    const state = readCheckpointState(join(out, 'checkpoints', id));
    assert.equal(state.status, 'interrupted');
    assert.ok(state.globalStep > 0 && state.globalStep < 2000, `model ${id} at step ${state.globalStep}`);
  }
  assert.deepEqual(
    readdirSync(out).filter((f) => f.endsWith('.lock')),
    ['.sweep.lock'],
    "only the dead parent's lock is left",
  );

  // the rerun takes the dead parent's lock over and resumes both models; Ctrl-C stops it cleanly
  const again = start(['sweep', long, '--out', out, '--workers', '2']);
  await again.waitFor([/\[worker 0\] model 0 .*resuming from checkpoint/, /\[worker 1\] model 1 .*resuming from checkpoint/]);
  again.child.kill('SIGINT');
  const end = await again.exit;
  assert.equal(end.code, 130, again.stderr());
  assert.ok(await groupEnded(again.child.pid!, 30_000));
  assert.doesNotMatch(again.stderr(), /ENOTEMPTY|is missing|: failed|[1-9]\d* failed/);
  assert.deepEqual(
    readdirSync(out).filter((f) => f.endsWith('.lock')),
    [],
  );
  for (const f of readdirSync(out).filter((x) => x.endsWith('.csv'))) assert.ok(readRows(join(out, f)).every((r) => r.status !== 'failed'));
});

test('environment errors refuse the sweep before its first model: one line, exit 2, nothing recorded; fixed, every model trains', () => {
  const out = join(dir, 'env');
  const unknown = cli(['sweep', config('svhn.json', { dataset: 'svhn' }), '--out', out]);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.ok(oneLine(unknown.stderr), unknown.stderr);
  assert.match(unknown.stderr, /^regnet: error: .*svhn\.json: invalid field 'dataset'/);
  assert.ok(!existsSync(join(out, 'sweep.csv')));

  // --workers: the parent refuses before starting any worker
  const missing = cli(['sweep', config('nodir.json', { data_dir: join(dir, 'no-such-folder') }), '--out', out, '--workers', '2']);
  assert.equal(missing.code, 2, missing.stderr);
  assert.ok(oneLine(missing.stderr), missing.stderr);
  assert.match(missing.stderr, /^regnet: error: .*data_dir '.*no-such-folder' is not a folder here/);
  assert.ok(!existsSync(join(out, 'sweep.csv')));

  // the same sweep (data_dir is not part of its identity) with the folder fixed: all four models train
  const fixed = cli(['sweep', config('fixed.json', {}), '--out', out]);
  assert.equal(fixed.code, 0, fixed.stderr);
  const rows = readRows(join(out, 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => [r.id, r.status]),
    [
      [0, 'ok'],
      [1, 'ok'],
      [2, 'ok'],
      [3, 'ok'],
    ],
  );
});

test("a sweep named '..' without --out is refused and writes nothing into the working folder", () => {
  const work = join(dir, 'work');
  mkdirSync(work);
  const r = cli(['sweep', config('dotdot.json', { name: '..' })], work);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^regnet: error: .*dotdot\.json: invalid field 'name': '\.' and '\.\.' are not sweep names/);
  assert.deepEqual(readdirSync(work), []);
});
