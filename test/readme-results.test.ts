/**
 * The README's results tables are made from the committed CSVs in results/: every figure of a tagged
 * table must be what its CSV holds (no training here; a few milliseconds).
 *
 * A table is tagged by an HTML comment on the line just above it (invisible on GitHub):
 *
 *   <!-- results-table file=results/results-{dataset}.csv key=model,engine,threads,epochs top-1=top1 "train img/s"=results/x.csv#train_samples_per_sec -->
 *
 * - `file=`: the default CSV; `{header}` is that row's cell, lowercased, spaces as `-` (MNIST -> mnist).
 * - `key=`: the headers whose cells pick the row: exactly one CSV row must agree on all of them.
 * - `HEADER=[FILE#]COLUMN`: the header's cells are figures of that CSV column (of FILE, else the default);
 *   `{header}` works in COLUMN too (`{mode}_samples_per_sec` -> train_samples_per_sec on a train row).
 *   A key header without a mapping reads the column of its own name; every other header is text, unchecked.
 * - Numbers agree when the CSV value rounded to the README's decimals is the README's figure (`99.13` vs
 *   `99.130`; `1,234` vs `1234.4`); text cells must be equal. `**` (bold) is ignored.
 *
 * Also: the `regnet` lines of scripts/reproduce.sh, which rewrite those CSVs, are README lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCsv, type CsvRecord } from '../src/results/csv.js';
import { ROOT, runCli } from './helpers/cli.js';
import { readmeCommands, shellWords } from './helpers/readme.js';

export interface TableSpec {
  /** 1-based line of the tag */
  line: number;
  file?: string;
  key: string[];
  /** README header -> { file, column } */
  columns: Map<string, { file?: string; column: string }>;
  headers: string[];
  rows: Array<{ line: number; cells: string[] }>;
}

const TAG = /^<!--\s*results-table\b(.*?)-->\s*$/;

/** `a=b "c d"=e` -> [['a','b'], ['c d','e']] */
function tagPairs(body: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const m of body.matchAll(/(?:"([^"]+)"|([^\s=]+))=(\S+)/g)) out.push([m[1] ?? m[2]!, m[3]!]);
  return out;
}

const splitRow = (line: string) =>
  line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());

/** Every tagged table of a markdown text. */
export function taggedTables(markdown: string): TableSpec[] {
  const lines = markdown.split('\n');
  const out: TableSpec[] = [];
  lines.forEach((text, i) => {
    const m = TAG.exec(text.trim());
    if (!m) return;
    const spec: TableSpec = { line: i + 1, key: [], columns: new Map(), headers: [], rows: [] };
    for (const [k, v] of tagPairs(m[1]!)) {
      if (k === 'file') spec.file = v;
      else if (k === 'key') spec.key = v.split(',');
      else {
        const hash = v.indexOf('#');
        spec.columns.set(k, hash < 0 ? { column: v } : { file: v.slice(0, hash), column: v.slice(hash + 1) });
      }
    }
    let j = i + 1;
    if (!lines[j]?.trim().startsWith('|')) throw new Error(`README.md:${i + 1}: a results-table tag must sit just above a table`);
    spec.headers = splitRow(lines[j]!);
    j += 2; // header and separator
    for (; j < lines.length && lines[j]!.trim().startsWith('|'); j++) spec.rows.push({ line: j + 1, cells: splitRow(lines[j]!) });
    for (const h of [...spec.key, ...spec.columns.keys()]) {
      if (!spec.headers.includes(h))
        throw new Error(`README.md:${i + 1}: the tag names '${h}', not a header of the table (${spec.headers.join(', ')})`);
    }
    out.push(spec);
  });
  return out;
}

const slug = (s: string) => s.toLowerCase().replace(/\s+/g, '-');
const NUMBER = /^-?[\d,]*\d(\.\d+)?$/;

/** Does the README's cell show the CSV's value? */
export function sameFigure(readme: string, csv: string | undefined): boolean {
  if (csv === undefined) return false;
  const cell = readme.replace(/\*\*/g, '').trim();
  if (!NUMBER.test(cell)) return cell === csv.trim();
  const digits = cell.split('.')[1]?.length ?? 0;
  const v = Number(csv);
  return csv.trim() !== '' && Number.isFinite(v) && v.toFixed(digits) === cell.replace(/,/g, '');
}

/**
 * Check every tagged table against the CSVs under root: one message per figure that differs or row that
 * cannot be found; [] when the README agrees with its CSVs.
 */
export function checkTables(tables: TableSpec[], root: string): string[] {
  const errors: string[] = [];
  const cache = new Map<string, CsvRecord[]>();
  const load = (file: string) => {
    if (!cache.has(file)) cache.set(file, existsSync(join(root, file)) ? readCsv(join(root, file)) : []);
    return cache.get(file)!;
  };
  for (const t of tables) {
    for (const row of t.rows) {
      const cell = (h: string) => (row.cells[t.headers.indexOf(h)] ?? '').replace(/\*\*/g, '').trim();
      const fill = (file: string) => file.replace(/\{([^}]+)\}/g, (_, h: string) => slug(cell(h)));
      const keyCol = (h: string) => fill(t.columns.get(h)?.column ?? h);
      const figures = [...t.columns.entries()].filter(([h]) => !t.key.includes(h));
      const files = new Set(figures.map(([, c]) => c.file ?? t.file));
      for (const f of files) {
        if (f === undefined) {
          errors.push(`README.md:${row.line}: no file for the table's figures (file= in the tag at line ${t.line})`);
          continue;
        }
        const file = fill(f);
        if (!existsSync(join(root, file))) {
          errors.push(`README.md:${row.line}: ${file} does not exist`);
          continue;
        }
        const hits = load(file).filter((r) => t.key.every((h) => sameFigure(cell(h), r[keyCol(h)])));
        const which = t.key.map((h) => `${keyCol(h)}=${cell(h)}`).join(' ');
        if (hits.length !== 1) {
          errors.push(`README.md:${row.line}: ${hits.length} rows of ${file} have ${which} (expected exactly one)`);
          continue;
        }
        for (const [h, c] of figures) {
          if ((c.file ?? t.file) !== f) continue;
          const column = fill(c.column);
          if (!sameFigure(cell(h), hits[0]![column])) {
            errors.push(
              `README.md:${row.line}: '${h}' is ${cell(h)}, but ${file} (${which}) has ${column}=${hits[0]![column] ?? '(no such column)'}`,
            );
          }
        }
      }
    }
  }
  return errors;
}

/** The `regnet ...` lines of scripts/reproduce.sh as the README writes them (default results folder). */
export function reproduceCommands(script: string): string[][] {
  return script
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^regnet\s/.test(l))
    .map((l) => {
      const words = shellWords(l).slice(1);
      const out: string[] = [];
      for (let i = 0; i < words.length; i++) {
        // the script's temporary folder and plain progress lines: the README's line runs with the defaults
        if ((words[i] === '--results-dir' && words[i + 1] === '$OUT') || (words[i] === '--progress' && words[i + 1] === 'plain')) i++;
        else out.push(words[i]!.replace(/^\$OUT\//, 'results/'));
      }
      return out;
    });
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The CSVs the README's tables must name (the accuracy table and every speed table). */
const TABLE_FILES = [
  'results/results-{dataset}.csv',
  'results/benchmark-train-wasm-32px.csv',
  'results/benchmark-infer-wasm-32px.csv',
  'results/benchmark-{mode}-torch-vs-pytorch.csv',
  'results/benchmark-infer-onnx-vs-pytorch.csv',
  'results/benchmark-loader-224px.csv',
  'results/benchmark-sample-regnetx.csv',
];

test('README results tables: every figure is what the committed CSV holds', () => {
  const tables = taggedTables(README);
  // the accuracy table (both datasets) and every speed table
  const files = new Set(tables.flatMap((t) => [t.file ?? '', ...[...t.columns.values()].map((c) => c.file ?? '')]));
  for (const f of TABLE_FILES) assert.ok(files.has(f), `no README table is tagged with ${f}`);
  const datasets = new Set(tables.flatMap((t) => t.rows.map((r) => r.cells[t.headers.indexOf('dataset')])).filter(Boolean));
  assert.deepEqual([...datasets].sort(), ['Fashion-MNIST', 'MNIST']);
  // (every assert here carries a message: without one, node reads the call's source to make one, which can take minutes)
  const empty = tables.filter((t) => t.rows.length === 0).map((t) => `README.md:${t.line}`);
  assert.deepEqual(empty, [], 'tagged tables without rows');
  assert.deepEqual(checkTables(tables, ROOT), []);
});

test('README results tables: the check fails on a changed figure, a missing row, an unknown file', () => {
  const table = taggedTables(README).find((t) => t.file === 'results/results-{dataset}.csv')!;
  const col = table.headers.indexOf('top-1');
  const edited = structuredClone(table);
  const cells = edited.rows[0]!.cells;
  cells[col] = (Number(cells[col]!.replace(/\*\*/g, '')) + 0.01).toFixed(2);
  assert.match(checkTables([edited], ROOT).join('\n'), /'top-1' is \d+\.\d+, but results\/results-.*\.csv .* has top1=/);
  const missing = structuredClone(table);
  missing.rows[0]!.cells[missing.headers.indexOf('model')] = 'regnetx_999';
  assert.match(checkTables([missing], ROOT).join('\n'), /0 rows of results\/results-.*\.csv have model=regnetx_999/);
  const noFile = structuredClone(table);
  noFile.rows[0]!.cells[noFile.headers.indexOf('dataset')] = 'CIFAR-7';
  assert.match(checkTables([noFile], ROOT).join('\n'), /results\/results-cifar-7\.csv does not exist/);
  assert.equal(sameFigure('99.13', '99.130'), true);
  assert.equal(sameFigure('**99.13**', '99.134'), true);
  assert.equal(sameFigure('99.13', '99.136'), false);
  assert.equal(sameFigure('1,234', '1234.4'), true);
  assert.equal(sameFigure('152', ''), false);
  assert.equal(sameFigure('torch', 'torch'), true);
});

test('README results tables: a drifted speed figure fails the check (torch vs PyTorch, {mode} columns)', () => {
  const table = taggedTables(README).find((t) => t.file === 'results/benchmark-{mode}-torch-vs-pytorch.csv')!;
  const modes = new Set(table.rows.map((r) => r.cells[table.headers.indexOf('mode')]));
  assert.deepEqual([...modes].sort(), ['infer', 'train'], 'the torch vs PyTorch table has infer and train rows');
  for (const header of ['ours img/s', 'ratio']) {
    const col = table.headers.indexOf(header);
    const edited = structuredClone(table);
    const last = edited.rows.at(-1)!.cells;
    const digits = last[col]!.split('.')[1]?.length ?? 0;
    last[col] = (Number(last[col]) + 10 ** -digits).toFixed(digits);
    const errors = checkTables([edited], ROOT);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(
      errors[0]!,
      new RegExp(`'${header.replace('/', '\\/')}' is [\\d.]+, but results/benchmark-(train|infer)-torch-vs-pytorch\\.csv`),
    );
  }
});

test('compare shows the committed MNIST results, and names the option that shows another build', () => {
  const rows = readCsv(join(ROOT, 'results', 'results-mnist.csv'));
  const top1 = (model: string) => Number(rows.find((r) => r.model === model)!.top1);
  const show = (extra: string[]) => {
    const r = runCli(['compare', 'regnetx_002', 'resnet18', '--dataset', 'mnist', '--no-bench', '--format', 'json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return { rows: JSON.parse(r.stdout) as Array<{ model: string; top1: number | null; results_file: string | null }>, stderr: r.stderr };
  };
  const small = show([]);
  assert.equal(small.rows[0]!.top1, top1('regnetx_002'));
  assert.equal(small.rows[0]!.results_file, 'results-mnist.csv');
  assert.equal(small.rows[1]!.top1, null); // resnet18 was trained with the ImageNet stem
  assert.match(
    small.stderr,
    /resnet18 has own results in results-mnist\.csv for another build of it \(compare with --stem imagenet to see it\)/,
  );
  const imagenet = show(['--stem', 'imagenet']);
  assert.equal(imagenet.rows[1]!.top1, top1('resnet18'));
});

test('README results tables: scripts/reproduce.sh runs the README lines', () => {
  const script = reproduceCommands(readFileSync(join(ROOT, 'scripts', 'reproduce.sh'), 'utf8'));
  assert.ok(script.length >= 4, String(script.length));
  const readme = readmeCommands(README).map((c) => c.args.join(' '));
  for (const args of script) assert.ok(readme.includes(args.join(' ')), `not a README line: regnet ${args.join(' ')}`);
});

/** The README's design-space study table, recomputed from docs/study's sweep rows (and summary.json's bootstrap CI). */
function studyErrors(markdown: string): string[] {
  const lines = markdown.split('\n');
  const at = lines.findIndex((l) => l.startsWith('| space | n | min err |'));
  if (at < 0) return ['README.md: no design-space study table'];
  const headers = splitRow(lines[at]!);
  const summary = JSON.parse(readFileSync(join(ROOT, 'docs', 'study', 'summary.json'), 'utf8')) as Array<{
    name: string;
    best_err_ci: number[];
  }>;
  const errors: string[] = [];
  for (let j = at + 2; lines[j]?.startsWith('|'); j++) {
    const cells = splitRow(lines[j]!);
    const cell = (h: string) => cells[headers.indexOf(h)]!;
    const space = cell('space').toLowerCase();
    const errs = readCsv(join(ROOT, 'docs', 'study', `${space}-sweep.csv`))
      .filter((r) => r.status === 'ok')
      .map((r) => Number(r.top1_err))
      .sort((a, b) => a - b);
    const mid = errs.length >> 1;
    const ci = summary.find((s) => s.name === `${space}_small`)?.best_err_ci;
    const want: Record<string, string> = {
      n: String(errs.length),
      'min err': errs[0]!.toFixed(2),
      'mean err': (errs.reduce((a, b) => a + b, 0) / errs.length).toFixed(2),
      'median err': (errs.length % 2 ? errs[mid]! : (errs[mid - 1]! + errs[mid]!) / 2).toFixed(2),
      'best-err 95% CI': ci ? `${ci[0]!.toFixed(2)}-${ci[2]!.toFixed(2)}` : '(no summary)',
    };
    for (const h of headers.filter((x) => x.startsWith('EDF('))) {
      const e = Number(/EDF\((\d+)%\)/.exec(h)![1]);
      want[h] = (errs.filter((x) => x < e).length / errs.length).toFixed(2);
    }
    for (const [h, v] of Object.entries(want)) {
      if (cell(h) !== v) errors.push(`README.md:${j + 1}: ${cell('space')} '${h}' is ${cell(h)}, but docs/study gives ${v}`);
    }
  }
  return errors;
}

test('README design-space study table: recomputed from docs/study, and a drifted figure fails', () => {
  assert.deepEqual(studyErrors(README), []);
  const drifted = README.replace(/^(\| RegNetX \| 32 \| )([\d.]+)/m, (_, a: string, v: string) => `${a}${(Number(v) + 0.01).toFixed(2)}`);
  assert.notEqual(drifted, README);
  assert.match(studyErrors(drifted).join('\n'), /RegNetX 'min err' is [\d.]+, but docs\/study gives 27\.35/);
});
