import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitContinuous, fitError, fitRegNet, modelBlockWidths, parseWidthList, resampleWidths } from '../src/analyze/fit.js';
import { zooEntry } from '../src/arch/zoo.js';
import { blockWidths } from '../src/space/regnet.js';
import { UsageError } from '../src/util/errors.js';

const MODELS = ['regnetx_002', 'regnetx_004', 'regnetx_032', 'regnetx_080', 'regnety_016', 'regnety_320', 'regnety_2560'];

for (const name of MODELS) {
  test(`fit recovers parameters with identical quantized widths: ${name}`, () => {
    const spec = zooEntry(name).spec;
    assert.equal(spec.kind, 'regnet');
    if (spec.kind !== 'regnet') return;
    const widths = blockWidths(spec.w0, spec.wa, spec.wm, spec.depth).widths;
    const fit = fitRegNet(widths);
    assert.equal(fit.depth, spec.depth);
    assert.deepEqual(fit.fitted_widths, widths);
    assert.deepEqual(blockWidths(fit.w0, fit.wa, fit.wm, fit.depth).widths, widths);
    assert.equal(fit.e_fit, 0);
    assert.equal(fit.w0, spec.w0); // block 0 of a fit is w0 itself
    assert.equal(fitError(widths, fit.w0, fit.wa, fit.wm), 0);
    assert.ok(fit.num_stages === 4 || fit.num_stages === new Set(widths).size);
  });
}

test('ResNet widths are not quantized-linear: a clearly larger e_fit', () => {
  for (const name of ['resnet18', 'resnet50']) {
    const w = modelBlockWidths(name);
    const fit = fitRegNet(w);
    assert.ok(fit.e_fit > 0.05, `${name} e_fit ${fit.e_fit}`);
    // the reported e_fit is the true objective of the reported parameters
    assert.equal(fit.e_fit, fitError(w, fit.w0, fit.wa, fit.wm));
    // and no better than a brute-force check over a small independent grid
    let bestGrid = Infinity;
    for (let w0 = 8; w0 <= 512; w0 += 8) {
      for (let wa = 1; wa <= 300; wa *= 1.1)
        for (let wm = 1.5; wm <= 3.0; wm += 0.05) bestGrid = Math.min(bestGrid, fitError(w, w0, wa, wm));
    }
    assert.ok(fit.e_fit <= bestGrid + 1e-12, `${name}: fit ${fit.e_fit} worse than grid ${bestGrid}`);
  }
});

test('zoo per-block widths expand stage widths by depth (group-adjusted widths of regnetx_032)', () => {
  const w = modelBlockWidths('regnetx_032');
  const expect = [...Array(2).fill(96), ...Array(6).fill(192), ...Array(15).fill(432), ...Array(2).fill(1008)];
  assert.deepEqual(w, expect);
  const fit = fitRegNet(w);
  // the group step moves widths off the rule a little: small but nonzero
  assert.ok(fit.e_fit > 0 && fit.e_fit < 0.03, `e_fit ${fit.e_fit}`);
  assert.equal(modelBlockWidths('resnet50').length, 16);
});

test('fit is deterministic', () => {
  const w = modelBlockWidths('regnety_008');
  assert.deepEqual(fitRegNet(w), fitRegNet(w));
});

test('continuous fit recovers an exact straight line', () => {
  const w = Array.from({ length: 20 }, (_, j) => 40 + 12.5 * j);
  const c = fitContinuous(w);
  assert.ok(c.e_fit < 2e-3, `e ${c.e_fit}`);
  assert.ok(Math.abs(c.wa - 12.5) / 12.5 < 0.02, `wa ${c.wa}`);
  assert.ok(Math.abs(c.w0 - 40) / 40 < 0.02, `w0 ${c.w0}`);
});

test('width lists: parsing, resampling and bad input', () => {
  assert.deepEqual(parseWidthList('48,48,96'), [48, 48, 96]);
  assert.deepEqual(parseWidthList('48x2, 96x3'), [48, 48, 96, 96, 96]);
  assert.throws(
    () => parseWidthList('48,abc'),
    (e: unknown) => e instanceof UsageError && /abc/.test(e.message),
  );
  assert.throws(() => parseWidthList(''), UsageError);
  assert.throws(() => fitRegNet([]), UsageError);
  assert.throws(() => fitRegNet([48, -1]), UsageError);
  assert.deepEqual(resampleWidths([1, 1, 2, 2], 8), [1, 1, 1, 1, 2, 2, 2, 2]);
  assert.deepEqual(resampleWidths([1, 2, 3, 4], 2), [2, 4]);
  assert.throws(() => modelBlockWidths('nosuchnet'), UsageError);
});
