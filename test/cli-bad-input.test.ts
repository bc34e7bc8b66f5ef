/**
 * Bad input, every command and every file format (issue 13): the case table is
 * test/fixtures/bad-input/cases.ts, its files are generated per case at test time. Each case must give
 *  - exit code 2,
 *  - stderr of exactly one printable line, `regnet: error: ...`, naming the field, flag or file (the
 *    case's regex),
 *  - no stack trace,
 *  - nothing added, removed or changed in the case's folder: no partial or temp files, and the
 *    pre-existing output files it names byte-for-byte the same.
 * Cases run in-process (src/cli/index.ts main()) in one child process; those that need read-only
 * folders in a second one, as an unprivileged user when the tests run as root, since root writes anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { BAD_INPUT_CASES, COMMANDS, type BadInputCase } from './fixtures/bad-input/cases.js';
import { Workdir } from './fixtures/bad-input/files.js';
import { ROOT, spawnCli } from './helpers/cli.js';
import type { InProcessResult } from './helpers/in-process.js';

/** Every file and folder under `dir`, with a digest of each file's bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        out.set(rel + '/', 'dir');
        walk(p);
      } else {
        out.set(rel, createHash('sha256').update(readFileSync(p)).digest('hex'));
      }
    }
  };
  walk(dir);
  return out;
}

function diff(before: Map<string, string>, after: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [k, v] of after) {
    if (!before.has(k)) problems.push(`added ${k}`);
    else if (before.get(k) !== v) problems.push(`changed ${k}`);
  }
  for (const k of before.keys()) if (!after.has(k)) problems.push(`removed ${k}`);
  return problems;
}

interface Prepared {
  c: BadInputCase;
  w: Workdir;
  args: string[];
  before: Map<string, string>;
}

const UNPRIVILEGED = 65534;
const asRoot = process.getuid?.() === 0;

/**
 * Run the cases in one child process (test/helpers/bad-input-runner.ts), in-process there: capturing
 * this process's stdout would swallow the test runner's own reports. `uid`: an unprivileged user for
 * the read-only cases when the tests run as root (root writes into read-only folders).
 */
function runInChild(jobs: Prepared[], uid?: number): InProcessResult[] {
  if (jobs.length === 0) return [];
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/bad-input-runner.ts')], {
    cwd: ROOT,
    input: JSON.stringify(jobs.map((j) => ({ args: j.args, cwd: j.w.root }))),
    encoding: 'utf8',
    ...(uid === undefined ? {} : { uid, gid: uid, env: { ...process.env, HOME: tmpdir() } }),
    timeout: 300_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  assert.equal(r.status, 0, `bad-input runner failed (${r.signal ?? r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as InProcessResult[];
}

function check(p: Prepared, r: InProcessResult): void {
  const label = `regnet ${p.args.map((a) => (a.startsWith(p.w.root) ? `<case>${a.slice(p.w.root.length)}` : a)).join(' ')}`;
  assert.equal(r.code, 2, `${label}: exit code ${r.code}, stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${label}: stack trace on stderr:\n${r.stderr}`);
  assert.match(r.stderr, /^regnet: error: [^\n]*\n$/, `${label}: stderr is not one 'regnet: error:' line:\n${r.stderr}`);
  assert.match(r.stderr, p.c.expect, `${label}: the error does not name what is wrong`);
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  assert.doesNotMatch(r.stderr.slice(0, -1), /[\u0000-\u0008\u000b-\u001f\u007f]/, `${label}: control characters on stderr`);
  p.w.unlock();
  const changes = diff(p.before, snapshot(p.w.root));
  assert.deepEqual(changes, [], `${label}: the failed run changed its folder`);
}

test(`bad input: ${BAD_INPUT_CASES.length} cases, one 'regnet: error:' line, exit 2, nothing written`, async (t) => {
  const started = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'regnet-bad-input-'));
  chmodSync(base, 0o755); // the unprivileged runner must reach the case folders
  const repoBefore = snapshotTop(ROOT);

  // unique names, and every command covered
  const names = BAD_INPUT_CASES.map((c) => `${c.command}: ${c.what}`);
  assert.equal(new Set(names).size, names.length, 'case names repeat');
  for (const cmd of COMMANDS) assert.ok(BAD_INPUT_CASES.filter((c) => c.command === cmd).length >= 8, `few cases for ${cmd}`);

  const prepared: Prepared[] = [];
  for (const [i, c] of BAD_INPUT_CASES.entries()) {
    const w = new Workdir(join(base, String(i).padStart(3, '0')));
    mkdirSync(w.root);
    const args = await c.setup(w);
    // the unprivileged user owns the case folder, as a user owns theirs: only the read-only folders refuse it
    if (asRoot && c.unprivileged) chownTree(w.root, UNPRIVILEGED);
    w.lock();
    prepared.push({ c, w, args, before: snapshot(w.root) });
  }

  const unprivileged = asRoot ? prepared.filter((p) => p.c.unprivileged) : [];
  const rest = prepared.filter((p) => !unprivileged.includes(p));
  const results = new Map<Prepared, InProcessResult>();
  for (const [jobs, uid] of [
    [rest, undefined],
    [unprivileged, UNPRIVILEGED],
  ] as const) {
    runInChild(jobs, uid).forEach((r, k) => results.set(jobs[k]!, r));
  }
  const times = new Map<string, number>();
  for (const p of prepared) {
    await t.test(`${p.c.command}: ${p.c.what}`, () => {
      const r = results.get(p)!;
      times.set(p.c.command, (times.get(p.c.command) ?? 0) + r.ms);
      check(p, r);
    });
  }

  assert.deepEqual(diff(repoBefore, snapshotTop(ROOT)), [], 'the cases wrote into the repository');
  for (const p of prepared) p.w.unlock();
  rmSync(base, { recursive: true, force: true });

  const byCommand = COMMANDS.map(
    (cmd) => `${cmd} ${BAD_INPUT_CASES.filter((c) => c.command === cmd).length} (${Math.round(times.get(cmd) ?? 0)} ms)`,
  );
  const formats = new Map<string, number>();
  for (const c of BAD_INPUT_CASES) if (c.format) formats.set(c.format, (formats.get(c.format) ?? 0) + 1);
  t.diagnostic(`commands: ${byCommand.join(', ')}`);
  t.diagnostic(`formats: ${[...formats].map(([f, n]) => `${f} ${n}`).join(', ')}`);
  t.diagnostic(
    `${BAD_INPUT_CASES.length} cases (${unprivileged.length} as uid ${UNPRIVILEGED}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
});

function chownTree(dir: string, uid: number): void {
  chownSync(dir, uid, uid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) chownTree(join(dir, e.name), uid);
    else chownSync(join(dir, e.name), uid, uid);
  }
}

/** The repository's top level and results/: names and file digests (the cases must not write there). */
function snapshotTop(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(root)) out.set(name, statSync(join(root, name)).isDirectory() ? 'dir' : 'file');
  for (const name of readdirSync(join(root, 'results')))
    out.set(
      `results/${name}`,
      createHash('sha256')
        .update(readFileSync(join(root, 'results', name)))
        .digest('hex'),
    );
  return out;
}

/**
 * Start `regnet ARGS`; once `ready()` (given stderr so far) says its Ctrl-C handler is installed and
 * `afterMs` more have passed, send `signal`; resolve with the exit code and how long the exit took.
 */
function killWhen(
  args: string[],
  ready: (stderr: string) => boolean,
  signal: NodeJS.Signals,
  afterMs: number,
): Promise<{ code: number | null; exitMs: number; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawnCli(args);
    const startedAt = performance.now();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let sentAt = 0;
    let timer: NodeJS.Timeout | undefined;
    const poll = setInterval(() => {
      if (!ready(stderr) && performance.now() - startedAt < 60_000) return;
      clearInterval(poll);
      timer = setTimeout(() => {
        sentAt = performance.now();
        child.kill(signal);
        // one that ignores the signal is killed after 10 s (and fails the exit-time check)
        timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      }, afterMs);
    }, 50);
    child.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolvePromise({ code, exitMs: sentAt ? performance.now() - sentAt : -1, stderr });
    });
  });
}

test('a huge sampling stops promptly on SIGTERM (sample) and SIGINT (sweep), writing nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-interrupt-'));
  try {
    // no model has 1-2 flops: the sampler draws until --max-draws, for hours
    const out = join(dir, 'samples.csv');
    // its progress line comes after 5 s of sampling
    const s = await killWhen(
      ['sample', '--n', '1000000', '--flops', '1:2', '--max-draws', '10000000000', '--out', out],
      (e) => /sample: 0 of 1000000 samples after \d+ draws/.test(e),
      'SIGTERM',
      200,
    );
    assert.ok(s.exitMs >= 0, `sample ended before the signal: ${s.stderr}`);
    assert.equal(s.code, 130, s.stderr);
    assert.ok(s.exitMs < 3000, `sample took ${Math.round(s.exitMs)} ms to stop`);
    assert.deepEqual(readdirSync(dir), [], 'sample wrote something');

    const config = join(dir, 'sweep.json');
    writeFileSync(
      config,
      JSON.stringify({
        name: 'huge',
        space: 'regnetx_small',
        constraints: { flops: [1, 2] },
        n: 1000000,
        seed: 0,
        dataset: 'mnist',
        engine: 'torch',
      }),
    );
    // sweep.json is written just before the sampling, with the handler in place
    const w = await killWhen(
      ['sweep', config, '--out', join(dir, 'out')],
      () => existsSync(join(dir, 'out', 'sweep.json')),
      'SIGINT',
      1500,
    );
    assert.ok(w.exitMs >= 0, `sweep ended before the signal: ${w.stderr}`);
    assert.equal(w.code, 130, w.stderr);
    assert.ok(w.exitMs < 3000, `sweep took ${Math.round(w.exitMs)} ms to stop`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
