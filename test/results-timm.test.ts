import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeResults, writeBenchCsv } from '../src/results/timm.js';

test('results CSV: exact header, formatting, merge by (model, img_size), timm sort order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-res-'));
  const f = join(dir, 'results-mnist.csv');
  mergeResults(f, [{ model: 'b', img_size: 28, top1: 99.1234, top5: 100, params: 2684792, crop_pct: 1, interpolation: 'bilinear' }]);
  mergeResults(f, [
    { model: 'a', img_size: 28, top1: 99.1234, top5: 100, params: 11689512, crop_pct: 1, interpolation: 'bilinear' },
    { model: 'c', img_size: 28, top1: 98, top5: 99.9, params: 1000, crop_pct: 0.875, interpolation: 'bicubic' },
  ]);
  mergeResults(f, [{ model: 'c', img_size: 28, top1: 99.5, top5: 99.9, params: 1000, crop_pct: 0.875, interpolation: 'bicubic' }]);
  assert.equal(
    readFileSync(f, 'utf8'),
    'model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation\n' +
      'c,28,99.500,0.500,99.900,0.100,0.00,0.875,bicubic\n' +
      'a,28,99.123,0.877,100.000,0.000,11.69,1.000,bilinear\n' +
      'b,28,99.123,0.877,100.000,0.000,2.68,1.000,bilinear\n',
  );
});

test('benchmark CSV: timm header with the mode prefix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-res-'));
  const f = join(dir, 'benchmark-infer-x.csv');
  writeBenchCsv(f, [{ model: 'resnet50', mode: 'infer', img_size: 224, samples_per_sec: 123.456, step_time_ms: 64.8, batch_size: 8, params: 25557032, macs: 4089184256, acts: 11114984 }]);
  assert.equal(
    readFileSync(f, 'utf8'),
    'model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs,infer_macts\n' +
      'resnet50,224,123.46,64.800,8,25.56,4.09,11.11\n',
  );
});
