import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import sharp from 'sharp';
import { analyzeSweeps } from '../src/analyze/report.js';
import { readSweepCsv } from '../src/analyze/sweep-csv.js';
import { logTicks, niceTicks, renderPlot } from '../src/analyze/svg.js';
import { register as registerAnalyze } from '../src/cli/analyze.js';
import { register as registerFit } from '../src/cli/fit.js';
import { reportError } from '../src/cli/index.js';
import { regnetStages } from '../src/space/regnet.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('analyze-test-');

interface GenRow {
  id: string;
  ok: boolean;
  err: number;
  flops: number;
}

/** A synthetic sweep of valid 4-stage RegNets with an error model; `anynet` drops w0/wa/wm/depth. */
function genSweep(path: string, n: number, seed: number, anynet = false): GenRow[] {
  const rng = new Rng(seed);
  const lu = (a: number, b: number) => Math.exp(rng.uniform(Math.log(a), Math.log(b)));
  const lines = ['id,space,status,top1,depth,w0,wa,wm,group_size,params,flops,acts,stage_widths,stage_depths'];
  const rows: GenRow[] = [];
  while (rows.length < n) {
    const depth = rng.int(12, 28);
    const w0 = 8 * Math.max(1, Math.round(lu(8, 256) / 8));
    const wa = Math.round(lu(8, 256) * 10) / 10;
    const wm = Math.round(lu(2, 3) * 1000) / 1000;
    const g = [8, 16, 32, 64][rng.int(0, 3)]!;
    const st = regnetStages({ depth, w0, wa, wm, groupSize: g });
    if (st.numStages !== 4 || st.totalStages !== 4) continue;
    let flops = 0;
    let params = 0;
    let acts = 0;
    st.widths.forEach((w, i) => {
      const hw = (56 / 2 ** i) ** 2;
      flops += st.depths[i]! * hw * (2 * w * w + 9 * w * g);
      params += st.depths[i]! * (2 * w * w + 9 * w * g);
      acts += st.depths[i]! * hw * 3 * w;
    });
    const err = Number((45 - 3 * Math.log(flops / 1e8) + 60 * (Math.log(wm) - Math.log(2.4)) ** 2 + rng.normal()).toFixed(3));
    const ok = rows.length % 9 !== 4; // some failed runs that must not count
    const id = `${anynet ? 'a' : 'm'}${rows.length}`;
    const p = anynet ? ['', '', '', ''] : [depth, w0, wa, wm];
    lines.push(
      [
        id,
        anynet ? 'anynetx' : 'regnetx',
        ok ? 'ok' : 'failed',
        ok ? (100 - err).toFixed(3) : '',
        ...p,
        anynet ? st.groupWidths.join('-') : g,
        params,
        flops,
        acts,
        st.widths.join('-'),
        st.depths.join('-'),
      ].join(','),
    );
    rows.push({ id, ok, err, flops });
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return rows;
}

/** XML-ish sanity: balanced tags, one root <svg>, no NaN coordinates. */
function checkSvg(svg: string): void {
  assert.ok(svg.trimStart().startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), 'svg root');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(!/NaN|Infinity|undefined/.test(svg), 'no NaN/Infinity/undefined in the SVG');
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g;
  let roots = 0;
  const stripped = svg.replace(re, (all, close: string, name: string, _attrs: string, self: string) => {
    if (close) assert.equal(stack.pop(), name, `closing </${name}>`);
    else if (!self) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
    return '';
  });
  assert.equal(stack.length, 0, `unclosed ${stack.join(',')}`);
  assert.equal(roots, 1);
  assert.ok(!/[<>]/.test(stripped), 'no stray < or > outside tags (text must be escaped)');
}

const count = (s: string, sub: RegExp) => (s.match(sub) ?? []).length;

test('analyze writes EDF, error-vs-parameter, widths SVGs and a report from a RegNet and an AnyNet sweep', () => {
  const dir = join(tmp, 'two');
  mkdirSync(dir);
  const rx = genSweep(join(dir, 'rx.csv'), 60, 1);
  const ax = genSweep(join(dir, 'ax.csv'), 45, 2, true);
  const out = join(dir, 'analysis');
  const res = analyzeSweeps([join(dir, 'rx.csv'), join(dir, 'ax.csv')], out, { bootstrap: 500, seed: 3 });
  const files = readdirSync(out).sort();
  for (const f of [
    'edf.svg',
    'err_vs_depth.svg',
    'err_vs_w0.svg',
    'err_vs_wa.svg',
    'err_vs_wm.svg',
    'err_vs_group_size.svg',
    'err_vs_flops.svg',
    'err_vs_params.svg',
    'err_vs_acts.svg',
    'widths.svg',
    'report.html',
    'summary.json',
  ]) {
    assert.ok(files.includes(f), `missing ${f}`);
  }
  assert.ok(!files.some((f) => f.endsWith('.tmp')), 'no temp files left');
  for (const f of files.filter((x) => x.endsWith('.svg'))) checkSvg(readFileSync(join(out, f), 'utf8'));

  // sweep stats from the CSV, computed independently
  const okR = rx.filter((r) => r.ok);
  const okA = ax.filter((r) => r.ok);
  const [sr, sa] = res.sweeps;
  assert.equal(sr!.name, 'regnetx');
  assert.equal(sr!.summary.n, okR.length);
  assert.equal(sr!.skipped, rx.length - okR.length);
  const errsR = okR.map((r) => r.err);
  assert.ok(Math.abs(sr!.summary.min - Math.min(...errsR)) < 1e-9);
  assert.ok(Math.abs(sr!.summary.mean - errsR.reduce((a, b) => a + b, 0) / errsR.length) < 1e-9);
  assert.equal(sa!.summary.n, okA.length);
  assert.deepEqual(
    sr!.top.map((t) => t.id),
    [...okR]
      .sort((a, b) => a.err - b.err)
      .slice(0, 5)
      .map((r) => r.id),
  );
  // the synthetic error falls with flops: strongly negative rank correlation
  assert.ok(sr!.spearman.flops! < -0.7, `rho ${sr!.spearman.flops}`);

  // EDF legend carries n, min and mean; one step path per sweep
  const edfSvg = readFileSync(join(out, 'edf.svg'), 'utf8');
  assert.ok(edfSvg.includes(`regnetx (n=${okR.length}, min=${Math.min(...errsR).toFixed(2)}, mean=${sr!.summary.mean.toFixed(2)})`));
  assert.ok(edfSvg.includes(`anynetx (n=${okA.length}`));
  assert.equal(count(edfSvg, /<path d="M[^"]*H[^"]*V/g), 2);

  // one dot per ok model in the flops scatter (legend swatches are circles too: 2 of them)
  const flopsSvg = readFileSync(join(out, 'err_vs_flops.svg'), 'utf8');
  assert.equal(count(flopsSvg, /<circle /g), okR.length + okA.length + 2);
  // the w0 plot has only the RegNet sweep: the AnyNet rows lack w0
  const w0Svg = readFileSync(join(out, 'err_vs_w0.svg'), 'utf8');
  assert.equal(count(w0Svg, /<circle /g), okR.length + 1);
  assert.ok(w0Svg.includes('best region'));

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.equal(count(html, /<svg /g), files.filter((f) => f.endsWith('.svg')).length, 'every SVG inline');
  assert.ok(html.includes('<table>') && html.includes('regnetx') && html.includes('anynetx'));
  assert.ok(!/<(img|script|link)\b/.test(html), 'self-contained');
  assert.match(res.text, /regnetx\s+\d+/);
  assert.match(res.text, /top 5 of regnetx/);
  const js = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Array<{ n: number; best_err_ci: number[] }>;
  assert.equal(js[0]!.n, okR.length);
  assert.ok(js[0]!.best_err_ci[0]! <= js[0]!.best_err_ci[1]! && js[0]!.best_err_ci[1]! <= js[0]!.best_err_ci[2]!);
  // the same seed gives the same report
  const again = analyzeSweeps([join(dir, 'rx.csv'), join(dir, 'ax.csv')], join(dir, 'again'), { bootstrap: 500, seed: 3 });
  assert.equal(readFileSync(join(dir, 'again', 'report.html'), 'utf8'), html);
  assert.deepEqual(
    again.sweeps.map((s) => s.best),
    res.sweeps.map((s) => s.best),
  );
});

test('AnyNet-only sweep: design-parameter plots without w0/wa/wm are skipped', () => {
  const dir = join(tmp, 'any');
  mkdirSync(dir);
  genSweep(join(dir, 'only.csv'), 30, 5, true);
  const res = analyzeSweeps([join(dir, 'only.csv')], join(dir, 'out'), { bootstrap: 200 });
  const files = readdirSync(join(dir, 'out'));
  assert.ok(!files.includes('err_vs_w0.svg') && !files.includes('err_vs_wa.svg') && !files.includes('err_vs_wm.svg'));
  // depth comes from the stage depths; widths from the stage lists
  assert.ok(files.includes('err_vs_depth.svg') && files.includes('widths.svg') && files.includes('edf.svg'));
  assert.ok(res.skipped.some((s) => s.includes("'w0'")));
});

test('sweep CSV errors are one-line usage errors naming what is missing', () => {
  const bad = join(tmp, 'bad.csv');
  writeFileSync(bad, 'name,acc\nx,1\n');
  assert.throws(
    () => readSweepCsv(bad),
    (e: unknown) => e instanceof UsageError && /id, status, top1_err \(or top1\)/.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(
    () => readSweepCsv(join(tmp, 'nope.csv')),
    (e: unknown) => e instanceof UsageError && /cannot read/.test(e.message),
  );
  // top1 instead of top1_err, and rows that failed do not count
  const t1 = join(tmp, 't1.csv');
  writeFileSync(t1, 'id,status,top1\na,ok,75\nb,failed,\nc,OK,80.5\n');
  const [s] = readSweepCsv(t1);
  assert.deepEqual(
    s!.rows.map((r) => [r.id, r.err]),
    [
      ['a', 25],
      ['c', 19.5],
    ],
  );
  assert.equal(s!.skipped, 1);
  assert.equal(s!.name, 't1');
});

test('nice ticks and log ticks', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(11.3, 28.7, 6), [12.5, 15, 17.5, 20, 22.5, 25, 27.5]);
  assert.deepEqual(niceTicks(11.3, 28.7, 6, true), [12, 14, 16, 18, 20, 22, 24, 26, 28]);
  assert.deepEqual(logTicks(8, 300), [10, 20, 50, 100, 200]);
  assert.deepEqual(logTicks(1e6, 1e10), [1e6, 1e7, 1e8, 1e9, 1e10]);
  const svg = renderPlot({ title: 'a <b> & c', series: [{ kind: 'line', name: 'x&y', x: [1, 2], y: [3, NaN] }] });
  checkSvg(svg);
  assert.ok(svg.includes('a &lt;b&gt; &amp; c'));
});

async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command().exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerAnalyze(program);
  registerFit(program);
  for (const c of program.commands) c.exitOverride();
  let out = '';
  let err = '';
  const wo = process.stdout.write.bind(process.stdout);
  const we = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(['node', 'regnet', ...args]);
    return { code: 0, out, err };
  } catch (e) {
    return { code: reportError(e), out, err };
  } finally {
    process.stdout.write = wo;
    process.stderr.write = we;
  }
}

test('cli: fit --json, fit a zoo model, analyze default output folder, usage errors exit 2', async () => {
  const j = await runCli(['fit', '--widths', '24x1,56x1,152x4,368x7', '--json']);
  assert.equal(j.code, 0);
  const fit = JSON.parse(j.out) as { w0: number; wa: number; wm: number; depth: number; e_fit: number; fitted_widths: number[] };
  assert.equal(fit.depth, 13);
  assert.equal(fit.e_fit, 0);
  assert.deepEqual(fit.fitted_widths, [24, 56, 152, 152, 152, 152, 368, 368, 368, 368, 368, 368, 368]);
  const r = await runCli(['fit', 'resnet50']);
  assert.equal(r.code, 0);
  assert.match(r.out, /e_fit=0\.\d{4}/);
  assert.match(r.out, /fitted widths/);
  assert.equal((await runCli(['fit'])).code, 2);
  assert.equal((await runCli(['fit', 'resnet50', '--widths', '8'])).code, 2);
  assert.equal((await runCli(['fit', '--widths', '8,x'])).code, 2);

  const dir = join(tmp, 'cli');
  mkdirSync(dir);
  genSweep(join(dir, 's.csv'), 20, 9);
  const a = await runCli(['analyze', join(dir, 's.csv'), '--bootstrap', '100']);
  assert.equal(a.code, 0, a.err);
  assert.ok(existsSync(join(dir, 'analysis', 'report.html')));
  assert.match(a.out, /top 5 of regnetx/);
  const bad = await runCli(['analyze', join(dir, 'missing.csv')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /cannot read sweep file/);
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

test(
  'report.html renders in headless Chromium (non-blank screenshot)',
  { skip: !chromium && 'chromium not installed', timeout: 60_000 },
  async () => {
    const dir = join(tmp, 'shot');
    mkdirSync(dir);
    genSweep(join(dir, 'rx.csv'), 40, 11);
    analyzeSweeps([join(dir, 'rx.csv')], join(dir, 'out'), { bootstrap: 200 });
    const png = join(dir, 'shot.png');
    const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    try {
      execFileSync(
        chromium!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          `--user-data-dir=${profile}`,
          '--window-size=1200,2400',
          `--screenshot=${png}`,
          pathToFileURL(join(dir, 'out', 'report.html')).href,
        ],
        { stdio: 'ignore', timeout: 50_000 },
      );
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
    assert.ok(existsSync(png), 'screenshot written');
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 1200);
    let dark = 0;
    let colored = 0;
    for (let i = 0; i < data.length; i += 3) {
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      if (r + g + b < 200) dark++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 80) colored++; // plot colours, not grey text
    }
    const px = info.width * info.height;
    assert.ok(dark / px > 0.002, `text/axes drawn (${dark} dark px)`);
    assert.ok(colored / px > 0.002, `coloured plot marks drawn (${colored} px)`);
  },
);
