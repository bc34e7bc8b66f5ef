/** The list of commands; each module exports a register(program) function. */
import type { Command } from 'commander';
import { register as models } from './models.js';
import { register as describe } from './describe.js';
import { register as sample } from './sample.js';
import { register as analyze } from './analyze.js';
import { register as fit } from './fit.js';

export const COMMANDS: Array<(program: Command) => void> = [models, describe, sample, analyze, fit];
