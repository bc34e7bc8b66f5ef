/**
 * Sampler throughput: accepted samples per second on one core with a flops range.
 * Target (issue 2): >= 20,000/s. Run: node --import tsx bench/sample.ts
 */
import { sampleSpace } from '../src/space/sampler.js';
import { loadSpace } from '../src/space/space-config.js';

const space = loadSpace(new URL('../configs/spaces/regnetx.json', import.meta.url).pathname);
const cases: Array<[string, [number, number] | undefined]> = [
  ['no range', undefined],
  ['flops 200M:4G', [200e6, 4e9]],
  ['flops 400M:600M', [400e6, 600e6]],
];
const n = 20000;
console.log('| flops range | accepted | draws | median s | samples/s |');
console.log('|---|---|---|---|---|');
for (const [label, flops] of cases) {
  const times: number[] = [];
  let draws = 0;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    const r = sampleSpace(space, { n, seed: rep, flops, maxDraws: 1e8 });
    times.push((performance.now() - t0) / 1000);
    draws = r.draws;
  }
  times.sort((a, b) => a - b);
  const med = times[2]!;
  console.log(`| ${label} | ${n} | ${draws} | ${med.toFixed(3)} | ${Math.round(n / med).toLocaleString('en-US')} |`);
}
