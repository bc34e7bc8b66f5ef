/**
 * Design-space analysis of sweep CSVs (spec section 7): error EDFs, error against each design parameter
 * and complexity measure with bootstrap bands for the best region, the per-block widths of the best and
 * worst models, a self-contained HTML report and a text summary. All files are written atomically.
 */
import { join } from 'node:path';
import { renderTable } from '../cli/table.js';
import { fitRegNet } from './fit.js';
import { bootstrapBest, bootstrapBinnedMin, edf, spearman, summarize, type BestRegion, type Summary } from './stats.js';
import { escapeXml, formatTick, PALETTE, renderPlot, type Series } from './svg.js';
import { COMPLEXITY_COLUMNS, PARAM_COLUMNS, readSweeps, type AnalysisRow, type NumericField, type Sweep } from './sweep-csv.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface AnalyzeOptions {
  /** bootstrap rounds (default 2500) */
  bootstrap?: number;
  seed?: number;
  /** bins of the binned min-error band (default 8) */
  bins?: number;
  /** best models listed per sweep (default 5) */
  top?: number;
}

export interface SweepStats {
  name: string;
  file: string;
  summary: Summary;
  skipped: number;
  /** bootstrap of the best model: error and each design value */
  best: BestRegion;
  /** Spearman rank correlation of error with each numeric field present */
  spearman: Partial<Record<NumericField, number>>;
  top: Array<{ id: string; err: number; e_fit?: number; row: AnalysisRow }>;
}

export interface AnalyzeResult {
  sweeps: SweepStats[];
  /** every file written, absolute or relative as outDir was given */
  files: string[];
  /** plots skipped and why */
  skipped: string[];
  text: string;
}

const FIELD_INFO: Record<NumericField, { label: string; log: boolean }> = {
  depth: { label: 'depth d (blocks)', log: false },
  w0: { label: 'initial width w0', log: true },
  wa: { label: 'slope wa', log: true },
  wm: { label: 'width multiplier wm', log: false },
  group_size: { label: 'group width g', log: true },
  flops: { label: 'flops', log: true },
  params: { label: 'params', log: true },
  acts: { label: 'activations', log: true },
};

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');

function seedFor(base: number, k: number): number {
  return (base + 0x9e3779b1 * (k + 1)) % 4294967296;
}

/** Analyse sweep CSVs and write plots and report.html into outDir. */
export function analyzeSweeps(files: string[], outDir: string, opts: AnalyzeOptions = {}): AnalyzeResult {
  const sweeps = readSweeps(files);
  const rounds = opts.bootstrap ?? 2500;
  const seed = opts.seed ?? 0;
  const topN = opts.top ?? 5;
  const fields = [...PARAM_COLUMNS, ...COMPLEXITY_COLUMNS] as NumericField[];

  const stats: SweepStats[] = sweeps.map((s, si) => {
    const errs = s.rows.map((r) => r.err);
    const values: Record<string, number[]> = {};
    for (const f of fields) values[f] = s.rows.map((r) => r.values[f]);
    const best = bootstrapBest(errs, values, { samples: rounds, seed: seedFor(seed, si) });
    const rho: Partial<Record<NumericField, number>> = {};
    for (const f of fields) if (values[f]!.some(Number.isFinite)) rho[f] = spearman(values[f]!, errs);
    const sorted = [...s.rows].sort((a, b) => a.err - b.err || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const top = sorted.slice(0, topN).map((row) => ({
      id: row.id,
      err: row.err,
      e_fit: row.blockWidths.length ? fitRegNet(row.blockWidths).e_fit : undefined,
      row,
    }));
    return { name: s.name, file: s.file, summary: summarize(errs), skipped: s.skipped, best, spearman: rho, top };
  });

  const written: string[] = [];
  const skipped: string[] = [];
  const figures: Array<{ file: string; caption: string; svg: string }> = [];
  const emit = (file: string, caption: string, svg: string) => {
    const path = join(outDir, file);
    writeFileAtomic(path, svg + '\n');
    written.push(path);
    figures.push({ file, caption, svg });
  };

  const nonEmpty = sweeps.map((s, i) => ({ s, i })).filter(({ s }) => s.rows.length > 0);
  const color = (i: number) => PALETTE[i % PALETTE.length]!;

  // 1. EDFs overlaid
  {
    const series: Series[] = [];
    let hiErr = -Infinity;
    for (const { s } of nonEmpty) for (const r of s.rows) hiErr = Math.max(hiErr, r.err);
    for (const { s, i } of nonEmpty) {
      const e = edf(s.rows.map((r) => r.err));
      const st = stats[i]!.summary;
      series.push({
        kind: 'step',
        name: `${s.name} (n=${st.n}, min=${f2(st.min)}, mean=${f2(st.mean)})`,
        x: [e.x[0]!, ...e.x, hiErr],
        y: [0, ...e.y, 1],
        color: color(i),
      });
    }
    if (series.length) {
      emit('edf.svg', 'Error EDFs: F(e) = fraction of models with error < e. Up and to the left is better.', renderPlot({
        id: 'edf',
        title: 'Error EDF',
        xLabel: 'top-1 error (%)',
        yLabel: 'cumulative prob.',
        yDomain: [0, 1.02],
        series,
      }));
    } else skipped.push('edf.svg: no rows with status ok');
  }

  // 2. error against each design parameter and complexity measure
  for (const [fi, f] of fields.entries()) {
    const info = FIELD_INFO[f];
    const series: Series[] = [];
    const bands: Series[] = [];
    for (const { s, i } of nonEmpty) {
      const xs = s.rows.map((r) => r.values[f]);
      const errs = s.rows.map((r) => r.err);
      const finite = xs.filter((x) => Number.isFinite(x) && (!info.log || x > 0)).length;
      if (finite < 2) continue;
      const rho = stats[i]!.spearman[f];
      series.push({ kind: 'scatter', name: `${s.name} (rho=${Number.isFinite(rho) ? rho!.toFixed(2) : '-'})`, x: xs, y: errs, color: color(i) });
      const band = bootstrapBinnedMin(xs, errs, { bins: opts.bins ?? 8, log: info.log, samples: Math.min(rounds, 1000), seed: seedFor(seed, 1000 + 16 * i + fi) });
      if (band.x.length) bands.push({ kind: 'band', name: undefined, x: band.x, lo: band.lo, hi: band.hi, mid: band.mid, color: color(i), opacity: 0.16 });
      const br = stats[i]!.best.values[f];
      if (br && br.every(Number.isFinite)) {
        bands.push({
          kind: 'vband',
          name: `${s.name} best region [${formatTick(Number(br[0].toPrecision(3)))}, ${formatTick(Number(br[2].toPrecision(3)))}]`,
          x0: br[0],
          x1: br[2],
          mid: br[1],
          color: color(i),
          opacity: 0.1,
        });
      }
    }
    if (series.length === 0) {
      skipped.push(`err_vs_${f}.svg: no column '${f}' values`);
      continue;
    }
    // a log axis over a few distinct values (group widths 8/16/32/64) is easiest to read ticked at them
    const distinct = [...new Set(nonEmpty.flatMap(({ s }) => s.rows.map((r) => r.values[f]).filter((v) => Number.isFinite(v) && v > 0)))].sort((a, b) => a - b);
    const xTicks = info.log && distinct.length <= 8 ? distinct : undefined;
    emit(
      `err_vs_${f}.svg`,
      `Error vs ${info.label}. Shaded curve: bootstrapped min error per bin (2.5-97.5%, line = median); vertical band: ` +
        `95% bootstrap range of the best model's ${f} (dashed = median).`,
      renderPlot({ id: `err-${f}`, title: `Error vs ${f}`, xLabel: info.label + (info.log ? ' (log)' : ''), yLabel: 'top-1 error (%)', xLog: info.log, xTicks, xInteger: f === 'depth', series: [...bands, ...series] }),
    );
  }

  // 3. per-block widths of the best and worst model of each sweep, and the fit of the overall best
  {
    const series: Series[] = [];
    let overall: AnalysisRow | undefined;
    for (const { s, i } of nonEmpty) {
      const withW = s.rows.filter((r) => r.blockWidths.length > 0);
      if (withW.length === 0) continue;
      const sorted = [...withW].sort((a, b) => a.err - b.err || (a.id < b.id ? -1 : 1));
      const b = sorted[0]!;
      const w = sorted[sorted.length - 1]!;
      if (!overall || b.err < overall.err) overall = b;
      const idx = (r: AnalysisRow) => r.blockWidths.map((_, j) => j + 1);
      series.push({ kind: 'line', name: `${s.name} best ${b.id} (err ${f2(b.err)})`, x: idx(b), y: b.blockWidths, color: color(i), markers: true });
      if (w !== b) series.push({ kind: 'line', name: `${s.name} worst ${w.id} (err ${f2(w.err)})`, x: idx(w), y: w.blockWidths, color: color(i), dash: '6 4', width: 1.5 });
    }
    if (overall) {
      const fit = fitRegNet(overall.blockWidths);
      series.push({
        kind: 'line',
        name: `fit of ${overall.id}: w0=${fit.w0} wa=${fit.wa.toFixed(2)} wm=${fit.wm.toFixed(3)} e_fit=${fit.e_fit.toFixed(3)}`,
        x: fit.fitted_widths.map((_, j) => j + 1),
        y: fit.fitted_widths,
        color: '#000000',
        dash: '2 3',
        width: 1.5,
      });
      emit('widths.svg', 'Per-block widths of the best (solid) and worst (dashed) model of each sweep; dotted black: quantized-linear fit of the best model.', renderPlot({
        id: 'widths',
        title: 'Per-block widths: best vs worst',
        xLabel: 'block index j',
        yLabel: 'width w_j (log)',
        yLog: true,
        xInteger: true,
        series,
      }));
    } else skipped.push('widths.svg: no stage_widths/stage_depths or w0/wa/wm/depth values');
  }

  const text = textSummary(stats, skipped, outDir);
  const html = renderHtml(stats, figures, files, rounds, seed);
  const htmlPath = join(outDir, 'report.html');
  writeFileAtomic(htmlPath, html);
  written.push(htmlPath);
  const summaryPath = join(outDir, 'summary.json');
  writeFileAtomic(summaryPath, JSON.stringify(stats.map(jsonStats), null, 2) + '\n');
  written.push(summaryPath);
  return { sweeps: stats, files: written, skipped, text };
}

function jsonStats(s: SweepStats) {
  return {
    name: s.name,
    file: s.file,
    ...s.summary,
    skipped: s.skipped,
    best_err_ci: s.best.err,
    best_region: s.best.values,
    spearman: s.spearman,
    top: s.top.map((t) => ({ id: t.id, err: t.err, e_fit: t.e_fit ?? null })),
  };
}

function topColumns(s: SweepStats): { header: string[]; rows: string[][] } {
  const header = ['#', 'id', 'err', 'flops', 'params', 'd', 'w0', 'wa', 'wm', 'g', 'stage widths', 'e_fit'];
  const rows = s.top.map((t, k) => {
    const v = t.row.values;
    const n = (x: number, f = (y: number) => String(y)) => (Number.isFinite(x) ? f(x) : '-');
    return [
      String(k + 1),
      t.id,
      f2(t.err),
      n(v.flops, formatTick),
      n(v.params, formatTick),
      n(v.depth),
      n(v.w0),
      n(v.wa),
      n(v.wm),
      n(v.group_size),
      t.row.stageWidths.length ? t.row.stageWidths.join('-') : '-',
      t.e_fit === undefined ? '-' : t.e_fit.toFixed(3),
    ];
  });
  return { header, rows };
}

function textSummary(stats: SweepStats[], skipped: string[], outDir: string): string {
  const lines: string[] = [];
  lines.push(
    renderTable(
      ['sweep', 'n', 'skipped', 'min', 'mean', 'median', 'max', 'best err 95% CI'],
      stats.map((s) => [s.name, String(s.summary.n), String(s.skipped), f2(s.summary.min), f2(s.summary.mean), f2(s.summary.median), f2(s.summary.max), `${f2(s.best.err[0])}..${f2(s.best.err[2])}`]),
    ),
  );
  for (const s of stats) {
    if (s.top.length === 0) continue;
    lines.push('', `top ${s.top.length} of ${s.name}:`);
    const t = topColumns(s);
    lines.push(renderTable(t.header, t.rows));
  }
  for (const k of skipped) lines.push(`skipped ${k}`);
  lines.push('', `report: ${join(outDir, 'report.html')}`);
  return lines.join('\n');
}

function htmlTable(header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${escapeXml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function renderHtml(stats: SweepStats[], figures: Array<{ file: string; caption: string; svg: string }>, files: string[], rounds: number, seed: number): string {
  const fields = [...PARAM_COLUMNS, ...COMPLEXITY_COLUMNS].filter((f) => stats.some((s) => s.spearman[f] !== undefined));
  const summary = htmlTable(
    ['sweep', 'file', 'n', 'skipped', 'min', 'mean', 'median', 'max', 'best err 2.5%', 'best err 50%', 'best err 97.5%'],
    stats.map((s) => [s.name, s.file, String(s.summary.n), String(s.skipped), f2(s.summary.min), f2(s.summary.mean), f2(s.summary.median), f2(s.summary.max), f2(s.best.err[0]), f2(s.best.err[1]), f2(s.best.err[2])]),
  );
  const corr = htmlTable(
    ['sweep', ...fields.map((f) => `rho(${f}, err)`)],
    stats.map((s) => [s.name, ...fields.map((f) => (s.spearman[f] !== undefined && Number.isFinite(s.spearman[f]!) ? s.spearman[f]!.toFixed(2) : '-'))]),
  );
  const region = htmlTable(
    ['sweep', ...fields.map((f) => `best ${f} [2.5, 50, 97.5]%`)],
    stats.map((s) => [s.name, ...fields.map((f) => {
      const v = s.best.values[f];
      return v && v.every(Number.isFinite) ? v.map((x) => formatTick(Number(x.toPrecision(3)))).join(', ') : '-';
    })]),
  );
  const tops = stats
    .filter((s) => s.top.length)
    .map((s) => {
      const t = topColumns(s);
      return `<h3>Top ${s.top.length}: ${escapeXml(s.name)}</h3>\n${htmlTable(t.header, t.rows)}`;
    })
    .join('\n');
  const figs = figures.map((f) => `<figure id="${escapeXml(f.file)}">\n${f.svg}\n<figcaption>${escapeXml(f.file)}: ${escapeXml(f.caption)}</figcaption>\n</figure>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>regnet design-space analysis</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 8px 20px; }
figure { margin: 0 0 16px; width: 640px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; }
.note { font-size: 12px; color: #555; }
</style>
</head>
<body>
<h1>Design-space analysis</h1>
<p class="note">Sweeps: ${files.map((f) => escapeXml(f)).join(', ')}. Only rows with status ok count. Bootstrap: ${rounds} rounds of 25% of the models drawn with replacement, seed ${seed}.</p>
<h2>Summary (top-1 error, %)</h2>
${summary}
<h2>Best region (bootstrap of the best model)</h2>
${region}
<h2>Rank correlation with error (Spearman)</h2>
${corr}
<h2>Best models</h2>
${tops}
<h2>Plots</h2>
<div class="plots">
${figs}
</div>
</body>
</html>
`;
}
