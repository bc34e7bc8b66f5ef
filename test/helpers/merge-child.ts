/** Child process for the concurrency test: `merge-child.ts KIND FILE TAG N` adds N rows named TAG-i, one write each. */
import { mergeResults } from '../../src/results/timm.js';
import { appendRun } from '../../src/train/runs.js';

const [kind, file, tag, n] = process.argv.slice(2) as [string, string, string, string];
for (let i = 0; i < Number(n); i++) {
  const model = `${tag}-${i}`;
  if (kind === 'results') {
    mergeResults(file, [{ model, img_size: 28, top1: 50 + i / 10, top5: 90, params: 1000 + i, crop_pct: 1, interpolation: 'bilinear' }]);
  } else {
    appendRun(file, {
      model,
      spec: '{"kind":"regnet"}',
      dataset: 'mnist',
      engine: 'wasm',
      recipe: 'quick',
      epochs: 1,
      steps: 1,
      batch_size: 8,
      lr: 0.1,
      img_size: 28,
      in_chans: 1,
      stem: 'small',
      seed: i,
      train_seconds: 1,
      images_per_sec: 10,
      params: 10,
      flops: 10,
      acts: 10,
      final_loss: 1,
      top1: 10,
      top5: 50,
      status: 'ok',
      finished_at: new Date().toISOString(),
    });
  }
}
