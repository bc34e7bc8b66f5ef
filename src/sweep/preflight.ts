/**
 * Before a sweep trains its first model: the dataset, its folder, the recipe and the engine must be
 * there. A problem is a SetupError (one line, exit 2) before anything is written, so a sweep never
 * records its environment as results; fixing the config and rerunning trains every model.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_NAMES } from '../data/types.js';
import { asSetupError, SetupError } from '../util/errors.js';
import type { TrainRequest } from '../train/types.js';
import { baseRequest, type ResolvedSweep } from './config.js';
import { sampleToSpec, sweepModels } from './run.js';

export async function checkSweepSetup(sweep: ResolvedSweep): Promise<void> {
  const where = sweep.file ?? 'sweep config';
  try {
    await check(sweep);
  } catch (e) {
    const setup = asSetupError(e);
    if (setup instanceof SetupError) throw new SetupError(`${where}: ${setup.message}`, setup.exitCode);
    throw e;
  }
}

async function check(sweep: ResolvedSweep): Promise<void> {
  const c = sweep.config;
  if (!(DATASET_NAMES as readonly string[]).includes(c.dataset)) {
    throw new SetupError(`dataset '${c.dataset}' is not one of ${DATASET_NAMES.join(', ')}`);
  }
  if (c.data_dir !== undefined && !(existsSync(c.data_dir) && statSync(c.data_dir).isDirectory())) {
    throw new SetupError(`data_dir '${c.data_dir}' is not a folder here`);
  }
  // the trainer's own loaders, so every model would see the same (imported here: heavy, and only sweeps need them)
  const { loadDataset } = await import('../train/run.js');
  const { resolveConfig } = await import('../train/config.js');
  const { loadRecipe } = await import('../train/recipe.js');
  const { listImageFolder } = await import('../data/folder.js');
  const { selectEngine } = await import('../engine/select.js');
  const first = sweepModels(sweep)[0]!;
  const request: TrainRequest = { ...baseRequest(sweep), model: { name: `${c.name}-0`, spec: sampleToSpec(first) }, seed: 0 };
  if (c.dataset === 'folder') {
    // decoding every image is the first model's work; here only the listing
    if (c.data_dir === undefined) throw new SetupError('dataset folder needs data_dir (a folder with train/ and val/ class folders)');
    listImageFolder(join(c.data_dir, 'train'));
    if (!['val', 'validation', 'test'].some((d) => existsSync(join(c.data_dir!, d)))) throw new SetupError(`data_dir '${c.data_dir}' has no val/ (or validation/, test/) folder`);
    if (c.recipe !== undefined) loadRecipe(c.recipe);
  } else {
    const ds = await loadDataset(c.dataset, c.data_dir, sweep.space.res);
    resolveConfig(request, ds, (limit) => (limit === undefined ? ds.train.n : Math.min(limit, ds.train.n)));
  }
  const engine = await selectEngine(c.engine, { threads: c.threads });
  engine.close?.();
}
