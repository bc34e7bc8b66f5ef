/**
 * Training recipes: JSON files in configs/recipes/ (or any path) validated by zod. A recipe fixes the
 * optimiser and schedule; command-line flags override single fields.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../util/errors.js';
import { configPath } from '../util/paths.js';
import { HyperSchema } from './hyper.js';

export const AugmentSchema = z.union([
  z.enum(['none', 'default']),
  z.object({ padCrop: z.number().int().min(0).default(0), flip: z.boolean().default(false) }).strict(),
]);

const H = HyperSchema.shape;

/** A recipe: the hyper-parameters (bounds from HyperSchema) with the defaults a recipe may leave out. */
export const RecipeSchema = z
  .object({
    description: z.string().optional(),
    epochs: H.epochs,
    /** total optimiser steps; when set it overrides epochs (the schedule spans exactly these steps) */
    steps: H.steps.optional(),
    batchSize: H.batchSize,
    lr: H.lr,
    momentum: H.momentum.default(0.9),
    nesterov: H.nesterov.default(true),
    weightDecay: H.weightDecay,
    warmupEpochs: H.warmupEpochs.default(0),
    labelSmoothing: H.labelSmoothing.default(0),
    /** 'none', 'default' (crop+flip for natural images, nothing for digits) or explicit settings */
    augment: AugmentSchema.default('none'),
    /** timm's RandAugment string (`rand-m9-mstd0.5`) or 'none' (default) */
    aa: H.aa.optional(),
    limitTrain: H.limitTrain.optional(),
    limitVal: H.limitVal.optional(),
    evalBatchSize: H.evalBatchSize.default(256),
    opt: H.opt.default('sgd'),
    ema: H.ema.default(false),
    emaDecay: H.emaDecay.default(0.9998),
    mixup: H.mixup.default(0),
    cutmix: H.cutmix.default(0),
    mixupProb: H.mixupProb.default(1),
    mixupSwitchProb: H.mixupSwitchProb.default(0.5),
    dropPath: H.dropPath.default(0),
    gradAccumSteps: H.gradAccumSteps.default(1),
  })
  .strict();
export type Recipe = z.output<typeof RecipeSchema>;
export type AugmentSetting = z.output<typeof AugmentSchema>;

/** configs/recipes of the package. */
export function recipesDir(): string {
  return configPath('recipes');
}

/** Built-in recipe names (files in configs/recipes). */
export function recipeNames(): string[] {
  const dir = recipesDir();
  return ['digits', 'cifar', 'quick', 'imagenet'].filter((n) => existsSync(join(dir, `${n}.json`)));
}

/** The recipe a dataset trains with when none is named. */
export function defaultRecipeFor(dataset: string): string {
  if (dataset === 'mnist' || dataset === 'fashion-mnist') return 'digits';
  if (dataset === 'cifar10' || dataset === 'cifar100') return 'cifar';
  return 'imagenet';
}

/** A recipe by built-in name or file path; `name` is the label recorded in results. */
export function loadRecipe(nameOrPath: string): { name: string; recipe: Recipe; path: string } {
  const builtin = /^[A-Za-z0-9_-]+$/.test(nameOrPath) ? join(recipesDir(), `${nameOrPath}.json`) : undefined;
  const path = builtin && existsSync(builtin) ? builtin : nameOrPath;
  if (!existsSync(path)) {
    throw new UsageError(`--recipe: '${nameOrPath}' is neither a built-in recipe (${recipeNames().join(', ')}) nor a file`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`recipe ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`recipe ${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const r = RecipeSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new UsageError(`recipe ${path}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return { name: path === builtin ? nameOrPath : basename(path).replace(/\.json$/, ''), recipe: r.data, path };
}
