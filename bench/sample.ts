/**
 * Sampler throughput: accepted samples per second on one core with a flops range, median (and range) of
 * 5 seeded runs of 20,000 accepted samples each. Target (issue 2): >= 20,000/s. Writes
 * results/benchmark-sample-regnetx.csv atomically (the README's sampler table is checked against it).
 *
 *   node --import tsx bench/sample.ts [--results-dir DIR]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sampleSpace } from '../src/space/sampler.js';
import { loadSpace } from '../src/space/space-config.js';
import { median } from '../src/util/median.js';
import { load1, RESULTS_DIR, stamp, writeResultsCsv } from './csv.js';

const { values: args } = parseArgs({ options: { 'results-dir': { type: 'string' } } });
const SPACE = 'regnetx';
const space = loadSpace(new URL(`../configs/spaces/${SPACE}.json`, import.meta.url).pathname);
const cases: Array<[string, [number, number] | undefined]> = [
  ['none', undefined],
  ['200M:4G', [200e6, 4e9]],
  ['400M:600M', [400e6, 600e6]],
];
const n = 20000;
const REPS = 5;
const COLUMNS = [
  'space',
  'flops_range',
  'samples',
  'draws',
  'samples_per_sec',
  'samples_per_sec_min',
  'samples_per_sec_max',
  'reps',
  'device',
  'threads',
  'load_start',
  'load_end',
  'measured',
];
const rows: Array<Record<string, string>> = [];
console.log(`1-minute load average ${load1()}`);
console.log('| flops range | accepted | draws | samples/s (median) | min | max |');
console.log('|---|---|---|---|---|---|');
for (const [label, flops] of cases) {
  const loadStart = load1();
  const rates: number[] = [];
  let draws = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const t0 = performance.now();
    const r = sampleSpace(space, { n, seed: rep, flops, maxDraws: 1e8 });
    rates.push(n / ((performance.now() - t0) / 1000));
    draws += r.draws;
  }
  const row = {
    space: SPACE,
    flops_range: label,
    samples: String(n),
    draws: String(Math.round(draws / REPS)),
    samples_per_sec: median(rates).toFixed(0),
    samples_per_sec_min: Math.min(...rates).toFixed(0),
    samples_per_sec_max: Math.max(...rates).toFixed(0),
    reps: String(REPS),
    device: 'cpu',
    threads: '1',
    load_start: loadStart,
    load_end: load1(),
    measured: stamp(),
  };
  rows.push(row);
  const f = (v: string) => Number(v).toLocaleString('en-US');
  console.log(
    `| ${label} | ${n} | ${row.draws} | ${f(row.samples_per_sec)} | ${f(row.samples_per_sec_min)} | ${f(row.samples_per_sec_max)} |`,
  );
}
writeResultsCsv(join(args['results-dir'] ?? RESULTS_DIR, `benchmark-sample-${SPACE}.csv`), COLUMNS, rows);
