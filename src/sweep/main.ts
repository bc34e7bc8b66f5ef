/**
 * Process entry for sweep workers and tests: the regnet CLI with `sweep` and `merge` registered even
 * where the command list does not (yet) include them. `--workers K` starts its children through this file.
 */
import { buildProgram, reportError } from '../cli/index.js';
import { register as registerMerge } from '../cli/merge.js';
import { register as registerSweep } from '../cli/sweep.js';

async function run(): Promise<number> {
  const program = buildProgram();
  const names = new Set(program.commands.map((c) => c.name()));
  if (!names.has('sweep')) registerSweep(program);
  if (!names.has('merge')) registerMerge(program);
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(process.argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

run().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
