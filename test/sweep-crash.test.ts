/**
 * Crash suite: a sweep killed with SIGKILL (a preemption, the OOM killer) at every kind of write and at
 * seeded random moments, sequentially and with --workers 2, ends after reruns with the rows of an
 * uninterrupted run (every column but the timings), none failed, and no temp, `.next`, lock or
 * checkpoint file left. The write points come from REGNET_TEST_CRASH_AT (src/util/crash-points.ts): each
 * file's atomic write (rows, the sidecar, the checkpoint's three files, the merge), the checkpoint
 * commit's steps and the moment after a row is on disk. One tiny config (4 models of 4 steps, 2 epochs,
 * so every model saves two checkpoints) and one uninterrupted reference run serve every case.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRows, type SweepRow } from '../src/sweep/rows.js';
import { Rng } from '../src/util/rng.js';
import { spawnCli } from './helpers/cli.js';
import { writeTinySweep } from './helpers/sweep-config.js';
import { groupEnded } from './helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'sweep-crash-'));
// 16 images in batches of 8: 2 steps an epoch, 2 epochs, a checkpoint after each
const cfg = writeTinySweep(dir, 'crash.json', 'crash', { overrides: { steps: 4, batchSize: 8 }, limit_train: 16 });

interface Outcome {
  code: number | null;
  signal: string | null;
  stderr: string;
  ms: number;
  firstModelMs?: number;
}

const groups: number[] = [];
after(() => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* ended */
    }
  }
});

/**
 * `regnet sweep` on `out` in its own process group; killed (the parent alone, or the whole group)
 * `killAfterMs` after it starts its first model (start-up, the same every run, is left out); resolves once
 * every process of the group has ended. `firstModelMs`: when the first model started.
 */
async function sweep(
  out: string,
  extra: string[],
  opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number; killGroup?: boolean } = {},
): Promise<Outcome> {
  const t0 = Date.now();
  const child = spawnCli(['sweep', cfg, '--out', out, ...extra], { detached: true, env: { REGNET_TEST_CRASH_AT: '', ...opts.env } });
  const pgid = child.pid!;
  groups.push(pgid);
  let stderr = '';
  let firstModelMs: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (firstModelMs !== undefined || !/model \d+ \(/.test(stderr)) return;
    firstModelMs = Date.now() - t0;
    if (opts.killAfterMs === undefined) return;
    timer = setTimeout(() => {
      try {
        process.kill(opts.killGroup ? -pgid : pgid, 'SIGKILL');
      } catch {
        /* ended */
      }
    }, opts.killAfterMs);
  });
  const [code, signal] = await new Promise<[number | null, string | null]>((res) => child.on('close', (c, s) => res([c, s])));
  clearTimeout(timer);
  // workers left behind by a killed parent stop after checkpointing their model in flight
  assert.ok(await groupEnded(pgid, 60_000), `processes of the sweep outlived it:\n${stderr}`);
  return { code, signal, stderr, ms: Date.now() - t0, firstModelMs };
}

/** Every column but the wall-clock ones. */
const stable = (rows: SweepRow[]) => rows.map(({ train_seconds: _t, images_per_sec: _i, ...rest }) => rest);

/** Files a finished sweep must not leave: temp files, uncommitted checkpoint files, locks, checkpoints. */
function leftovers(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (d.endsWith('checkpoints')) out.push(p);
        walk(p);
      } else if (/\.tmp$|\.next$|\.lock$/.test(name)) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** The folder after a clean rerun: the reference rows, none failed, nothing left over. */
async function assertFinishes(out: string, extra: string[], history: string[]): Promise<void> {
  const last = await sweep(out, extra);
  assert.equal(last.code, 0, `the rerun after ${history.join(' | ')} failed:\n${last.stderr}`);
  const rows = readRows(join(out, 'sweep.csv'));
  assert.ok(
    rows.every((r) => r.status === 'ok' && r.attempts === 1),
    `after ${history.join(' | ')}: ${rows.map((r) => `${r.id} ${r.status} ${r.error}`).join('; ')}`,
  );
  assert.deepEqual(stable(rows), stable(reference), `rows differ from the uninterrupted run after ${history.join(' | ')}`);
  for (const f of readdirSync(out).filter((x) => x.endsWith('.csv')))
    assert.ok(
      readRows(join(out, f)).every((r) => r.status !== 'failed'),
      f,
    );
  assert.deepEqual(leftovers(out), [], `left over after ${history.join(' | ')}`);
}

const suiteStart = Date.now();
const ref = await sweep(join(dir, 'reference'), []);
assert.equal(ref.code, 0, ref.stderr);
const reference = readRows(join(dir, 'reference', 'sweep.csv'));
assert.equal(reference.length, 4);
/** How long the reference trained (from its first model to its exit): random kills land in such a span. */
const trainingMs = ref.ms - (ref.firstModelMs ?? 0);

/**
 * Kill at each write point in turn, on one folder: each run gets further (or recovers what the last one
 * left) and dies at its point; the sequence is chosen so that every point is reached.
 */
async function writePoints(name: string, extra: string[], points: string[], died: (o: Outcome) => boolean): Promise<void> {
  const out = join(dir, name);
  const history: string[] = [];
  for (const point of points) {
    const o = await sweep(out, extra, { env: { REGNET_TEST_CRASH_AT: point } });
    history.push(`${point}: ${o.signal ?? o.code}`);
    assert.ok(died(o), `not killed at ${point} (exit ${o.code}):\n${o.stderr}`);
  }
  await assertFinishes(out, extra, history);
}

test('sequential: killed at every kind of write, rerun each time: the uninterrupted rows', async () => {
  await writePoints(
    'points-seq',
    [],
    [
      'write:sweep.json', // the sidecar, at the start
      'write:optimizer.safetensors.next', // model 0's first checkpoint, file by file
      'write:model.safetensors.next',
      'before-commit',
      'write:state.json.next',
      'after-commit-record', // the commit record is on disk: the next run rolls forward...
      'mid-commit', // ...and is killed halfway through that
      'after-commit@1', // model 0's finished checkpoint, committed
      'write:sweep.csv', // model 0's row, from its finished checkpoint
      'sweep-after-row', // the row on disk, the checkpoint not yet removed
      'mid-commit@2', // model 1's finished checkpoint, halfway committed
      'write:sweep.csv@2', // model 1's row written, model 2's row half written
    ],
    (o) => o.signal === 'SIGKILL',
  );
});

test('--workers 2: workers and parent killed at their writes, rerun each time: the uninterrupted rows', async () => {
  // (the sequential case has every point; here the ones where processes interleave)
  await writePoints(
    'points-workers',
    ['--workers', '2'],
    [
      'before-commit', // both workers in their first checkpoint
      'after-commit-record@2', // both workers at the commit record of their finished checkpoint
      'write:sweep.shard-0-of-2.csv', // worker 0 rolls it forward and dies writing its first row; worker 1 finishes its shard
      'write:sweep.csv', // the parent merging the shards
    ],
    (o) => o.signal === 'SIGKILL' || /worker exit codes: (\d+, )*1(, |\n)/.test(o.stderr),
  );
});

/**
 * Kill at seeded random moments into the training (0 to `maxMs` after the first model starts); a run that
 * finishes before its kill starts a new folder, and its training time bounds the later kills' moments
 * (the machine's speed varies; the kills must keep landing).
 */
async function randomKills(
  name: string,
  extra: string[],
  seed: number,
  kills: number,
  maxMs: number,
  group: (k: number) => boolean,
): Promise<string> {
  const rng = new Rng(seed);
  let folder = 0;
  let history: string[] = [];
  let landed = 0;
  let span = maxMs;
  for (let k = 0; k < kills; k++) {
    const out = join(dir, `${name}-${folder}`);
    const at = Math.floor(rng.uniform(0, span));
    const o = await sweep(out, extra, { killAfterMs: at, killGroup: group(k) });
    history.push(`kill ${group(k) ? 'group' : 'parent'} ${at} ms into training: ${o.signal ?? o.code}`);
    if (o.signal === 'SIGKILL') landed++;
    else {
      if (o.firstModelMs !== undefined) span = Math.min(span, o.ms - o.firstModelMs);
      // finished (or, a workers parent, stopped) before the kill: check this folder and start another
      await assertFinishes(out, extra, history);
      folder++;
      history = [];
    }
  }
  await assertFinishes(join(dir, `${name}-${folder}`), extra, history);
  assert.ok(landed >= kills / 3, `only ${landed} of ${kills} kills landed during a run: ${history.join(' | ')}`);
  return `${landed} of ${kills} kills landed, ${folder + 1} folder(s)`;
}

test('sequential: SIGKILL at 10 seeded random moments, rerun each time: the uninterrupted rows', async (t) => {
  t.diagnostic(await randomKills('random-seq', [], 13, 10, trainingMs, () => false));
});

test('--workers 2: SIGKILL of the parent alone or of every process, at 10 seeded random moments: the uninterrupted rows', async (t) => {
  // two workers share the models: about half the sequential training time
  t.diagnostic(await randomKills('random-workers', ['--workers', '2'], 17, 10, trainingMs * 0.6, (k) => k % 2 === 1));
});

after(() =>
  process.stderr.write(
    `sweep-crash suite: ${((Date.now() - suiteStart) / 1000).toFixed(1)} s (reference run ${(ref.ms / 1000).toFixed(1)} s)\n`,
  ),
);
