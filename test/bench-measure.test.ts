import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../src/arch/zoo.js';
import type { CompiledNet, SgdOptions } from '../src/engine/types.js';
import { measure, median, randomBatch } from '../src/bench/measure.js';
import { parseBatchList } from '../src/cli/bench.js';

/** A network whose steps advance a fake clock by a fixed cost and log the call order. */
function fakeNet(name: string, costMs: number, clock: { t: number }, log: string[]): CompiledNet {
  const net = buildModel('regnetx_002', { res: 32, numClasses: 10 });
  net.name = name;
  const c = {
    net,
    predict(input: Float32Array, n: number) {
      assert.equal(input.length, n * 3 * 32 * 32);
      log.push(`p:${name}`);
      clock.t += costMs;
      return new Float32Array(n * 10);
    },
    trainStep(input: Float32Array, labels: Int32Array, n: number, opt: SgdOptions) {
      assert.equal(labels.length, n);
      for (const l of labels) assert.ok(l >= 0 && l < 10);
      assert.ok(opt.lr > 0);
      log.push(`t:${name}`);
      clock.t += 2 * costMs;
      return { loss: 1, correct: 0 };
    },
  };
  return c as unknown as CompiledNet;
}

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('measure steps targets round-robin, warm-up untimed, median step time and samples/s', async () => {
  const clock = { t: 0 };
  const log: string[] = [];
  const a = fakeNet('a', 10, clock, log);
  const b = fakeNet('b', 40, clock, log);
  const res = await measure(
    [
      { label: 'a', net: a, mode: 'infer', batch: 4 },
      { label: 'b', net: b, mode: 'train', batch: 2 },
    ],
    { warmup: 2, iters: 3, now: () => clock.t },
  );
  // alternating: a b a b ... (2 warm-up rounds + 3 timed rounds)
  assert.deepEqual(log, Array.from({ length: 5 }, () => ['p:a', 't:b']).flat());
  assert.deepEqual(res[0]!.stepTimesMs, [10, 10, 10]);
  assert.deepEqual(res[1]!.stepTimesMs, [80, 80, 80]);
  assert.equal(res[0]!.samplesPerSec, 400);
  assert.equal(res[1]!.samplesPerSec, 25);
});

test('a time budget stops after the round that crosses it, but not before minIters rounds', async () => {
  const clock = { t: 0 };
  const log: string[] = [];
  const a = fakeNet('a', 100, clock, log);
  const r1 = await measure([{ label: 'a', net: a, mode: 'infer', batch: 1 }], { warmup: 0, seconds: 0.35, now: () => clock.t });
  assert.equal(r1[0]!.stepTimesMs.length, 4); // rounds start at 0, 100, 200, 300 ms
  const r2 = await measure([{ label: 'a', net: a, mode: 'infer', batch: 1 }], {
    warmup: 0,
    seconds: 0.01,
    minIters: 3,
    now: () => clock.t,
  });
  assert.equal(r2[0]!.stepTimesMs.length, 3);
});

test('random batches are seeded: same seed same data, other seed other data', () => {
  const net = buildModel('regnetx_002', { res: 16, numClasses: 7 });
  const x = randomBatch(net, 3, 5);
  const y = randomBatch(net, 3, 5);
  const z = randomBatch(net, 3, 6);
  assert.deepEqual(x.input, y.input);
  assert.deepEqual(x.labels, y.labels);
  assert.notDeepEqual(x.input, z.input);
  assert.equal(x.input.length, 3 * 3 * 16 * 16);
  const mean = x.input.reduce((s, v) => s + v, 0) / x.input.length;
  assert.ok(Math.abs(mean) < 0.1, `mean ${mean}`);
  for (const l of x.labels) assert.ok(l >= 0 && l < 7);
});

test('parseBatchList', () => {
  assert.deepEqual(parseBatchList('8'), [8]);
  assert.deepEqual(parseBatchList('1, 2,32'), [1, 2, 32]);
  for (const bad of ['', '0', '8,', 'x', '2,2', '-1', '1.5']) assert.throws(() => parseBatchList(bad), /--batch/, bad);
});
