/**
 * Lock files and concurrent writers: K processes merging into one results CSV (and appending to one
 * runs.csv) keep every row; a dead holder's lock is taken over; a live holder is named in the error;
 * spreadsheet formulas in text cells are neutralised.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, statSync, utimesSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCsv, toCsv } from '../src/results/csv.js';
import { acquireLock, lockHolder, withLock } from '../src/util/lock.js';
import { UsageError } from '../src/util/errors.js';
import { ROOT } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'regnet-lock-'));
const CHILD = join(ROOT, 'test/helpers/merge-child.ts');

async function concurrentWriters(kind: 'results' | 'runs', file: string, writers: number, each: number): Promise<void> {
  const exits = Array.from({ length: writers }, (_, k) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, kind, file, `w${k}`, String(each)], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    return new Promise<void>((res, rej) =>
      child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`writer ${k} exit ${code}: ${err}`)))),
    );
  });
  await Promise.all(exits);
}

test('6 concurrent writers into one results CSV keep all 6 x 15 rows', async () => {
  const file = join(dir, 'results-mnist.csv');
  await concurrentWriters('results', file, 6, 15);
  const rows = readCsv(file);
  assert.equal(rows.length, 90);
  assert.equal(new Set(rows.map((r) => r.model)).size, 90);
  assert.ok(!existsSync(`${file}.lock`));
});

test('6 concurrent writers appending to one runs.csv keep all 6 x 15 rows', async () => {
  const file = join(dir, 'runs.csv');
  await concurrentWriters('runs', file, 6, 15);
  assert.equal(readCsv(file).length, 90);
});

test("a dead process's lock is taken over at once; a live holder is named (pid, host) in a one-line error", () => {
  const path = join(dir, 'x.lock');
  // a process that has exited: its pid is free
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(path, JSON.stringify({ pid: Number(dead.stdout), host: hostname(), started: 'then', purpose: 'killed run' }));
  const t0 = Date.now();
  assert.equal(
    withLock(path, { purpose: 'test', waitMs: 0 }, () => 42),
    42,
  );
  assert.ok(Date.now() - t0 < 1000);
  assert.ok(!existsSync(path), 'released');

  const held = acquireLock(path, { purpose: 'sweep runs/x' });
  try {
    assert.throws(
      () => acquireLock(path, { purpose: 'second', waitMs: 100 }),
      (e: unknown) =>
        e instanceof UsageError &&
        !e.message.includes('\n') &&
        e.message.includes(`pid ${process.pid} on ${hostname()}`) &&
        e.message.includes('sweep runs/x'),
    );
  } finally {
    held.release();
  }
  // an older lock folder (earlier versions locked runs.csv with a folder) of unknown owner is taken over once old
  assert.ok(!existsSync(path));
});

test('a zombie holder (killed, never reaped: containers without an init) counts as gone; its lock is taken over', async (t) => {
  if (process.platform !== 'linux') return t.skip('zombie state is read from /proc (Linux)');
  // a shell whose background child exits while the shell, exec'd into sleep, never waits for it
  const sh = spawn('sh', ['-c', 'sleep 0.1 & exec sleep 5'], { stdio: 'ignore' });
  try {
    let zombie: number | undefined;
    for (let i = 0; i < 50 && zombie === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const ps = spawnSync('ps', ['-o', 'pid=,stat=', '--ppid', String(sh.pid)], { encoding: 'utf8' }).stdout.trim();
      const z = ps.split('\n').find((l) => /\sZ/.test(l));
      if (z) zombie = Number(z.trim().split(/\s+/)[0]);
    }
    if (zombie === undefined) return t.skip('no zombie process could be made here (ps missing?)');
    const path = join(dir, 'zombie.lock');
    writeFileSync(path, JSON.stringify({ pid: zombie, host: hostname(), started: 'then', purpose: 'killed worker' }));
    assert.equal(
      withLock(path, { purpose: 'test', waitMs: 0 }, () => 7),
      7,
    );
  } finally {
    sh.kill();
  }
});

test("a long-held lock keeps itself fresh (heartbeat); another host's lock counts as held until it is stale", async () => {
  const path = join(dir, 'beat.lock');
  const lock = acquireLock(path, { purpose: 'sweep', heartbeatMs: 40 });
  try {
    const old = new Date(Date.now() - 3600_000);
    utimesSync(path, old, old);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(Date.now() - statSync(path).mtimeMs < 5_000, 'the heartbeat touched the lock');
    assert.equal(lockHolder(path)?.owner?.pid, process.pid);
  } finally {
    lock.release();
  }
  assert.equal(lockHolder(path), undefined, 'released: free');
  // a holder on another host: held while fresh, abandoned once older than staleAfterMs
  writeFileSync(path, JSON.stringify({ pid: 1, host: 'elsewhere', started: 'now', purpose: 'sweep shard 0/2' }));
  assert.equal(lockHolder(path, 60_000)?.owner?.host, 'elsewhere');
  const old = new Date(Date.now() - 120_000);
  utimesSync(path, old, old);
  assert.equal(lockHolder(path, 60_000), undefined);
});

test('text cells that a spreadsheet would run as formulas get a leading apostrophe; numbers do not', () => {
  const text = toCsv(
    ['model', 'top1', 'loss'],
    [
      { model: '=HYPERLINK("http://x","y")', top1: '-1.5', loss: '-inf' },
      { model: '@SUM(A1)', top1: '+3', loss: 'nan' },
      { model: 'regnetx_002', top1: '-', loss: '-x' },
    ],
  );
  const lines = text.trim().split('\n');
  assert.equal(lines[1], `"'=HYPERLINK(""http://x"",""y"")",-1.5,-inf`);
  assert.equal(lines[2], `'@SUM(A1),+3,nan`);
  assert.equal(lines[3], `regnetx_002,'-,'-x`);
});
