/** The tiny sweep the CLI-level sweep tests run: 4 small RegNetX models on a few MNIST images, seconds each. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainEngine } from './fixtures.js';

/** torch where its addon is built, else the embedded wasm engine: the sweep logic is the same on both. */
export const SWEEP_ENGINE = trainEngine();

/** The tiny sweep config; `extra` replaces fields (a shallow merge). */
export function tinySweep(name: string, extra: object = {}): Record<string, unknown> {
  return {
    name,
    space: 'regnetx_small',
    n: 4,
    seed: 2,
    dataset: 'mnist',
    recipe: 'quick',
    engine: SWEEP_ENGINE,
    threads: 1,
    overrides: { steps: 2, batchSize: 8 },
    limit_train: 32,
    limit_val: 32,
    res: 28,
    in_chans: 1,
    constraints: { flops: ['1M', '5M'] },
    ...extra,
  };
}

/** Write a tiny sweep config to DIR/FILE; returns its path. */
export function writeTinySweep(dir: string, file: string, name: string, extra: object = {}): string {
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify(tinySweep(name, extra)));
  return path;
}
