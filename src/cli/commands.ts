/** The list of commands, in the order `regnet --help` shows them; each module exports register(program). */
import type { Command } from 'commander';
import { register as models } from './models.js';
import { register as describe } from './describe.js';
import { register as sample } from './sample.js';
import { register as compare } from './compare.js';
import { register as bench } from './bench.js';
import { register as train } from './train.js';
import { register as evaluate } from './eval.js';
import { register as predict } from './predict.js';
import { register as exportModel } from './export.js';
import { register as sweep } from './sweep.js';
import { register as merge } from './merge.js';
import { register as analyze } from './analyze.js';
import { register as fit } from './fit.js';

export const COMMANDS: Array<(program: Command) => void> = [
  models,
  describe,
  sample,
  compare,
  bench,
  train,
  evaluate,
  predict,
  exportModel,
  sweep,
  merge,
  analyze,
  fit,
];
