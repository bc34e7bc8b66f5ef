/**
 * --engine, --threads and --device, declared once (names, help, parsing, defaults) for every command
 * that runs an engine: train, eval, predict, bench, compare and sweep. A command states only where its
 * default differs from the shared one.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ENGINE_CHOICES, type EngineChoice } from '../engine/types.js';
import { parseChoice, parseIntOption } from './options.js';

export interface EngineCliOptions {
  engine: EngineChoice;
  threads?: number;
  device?: string;
}

/** Where a command's defaults differ from the shared ones ('auto'; all cores; torch's own, the CPU). */
export interface EngineOptionDefaults {
  /** --engine gets no default value; the text says what applies when it is not given */
  engineUnset?: string;
  /** what applies when --threads is not given (shared: all cores) */
  threadsUnset?: string;
  /** --device's default value; false: the command has no --device */
  device?: string | false;
}

/** cpu, cuda or cuda:N, checked before any engine loads (whether CUDA is there is the engine's check). */
export function parseDevice(text: string): string {
  const d = text.trim().toLowerCase();
  if (d === 'cpu' || /^cuda(:\d+)?$/.test(d)) return d;
  throw new InvalidArgumentError(`--device: '${text}' is not one of cpu, cuda, cuda:N.`);
}

/** Add the engine options the command does not have yet (so option groups that share them compose). */
export function addEngineOptions(cmd: Command, d: EngineOptionDefaults = {}): Command {
  const has = (flag: string) => cmd.options.some((o) => o.long === flag);
  if (!has('--engine')) {
    const engine = new Option(
      '--engine <name>',
      `compute engine: ${ENGINE_CHOICES.join(', ')}${d.engineUnset ? ` (default: ${d.engineUnset})` : ''}`,
    ).argParser(parseChoice('--engine', ENGINE_CHOICES));
    cmd.addOption(d.engineUnset ? engine : engine.default('auto'));
  }
  if (!has('--threads'))
    cmd.option('--threads <n>', `engine threads (torch; default: ${d.threadsUnset ?? 'all cores'})`, parseIntOption('--threads', 1));
  if (d.device !== false && !has('--device')) {
    const device = new Option('--device <d>', 'torch device: cpu, cuda, cuda:N').argParser(parseDevice);
    cmd.addOption(d.device === undefined ? device : device.default(d.device));
  }
  return cmd;
}
