/**
 * The regnet command line. Each command lives in its own file and registers itself on the program;
 * this file only wires them up and turns user errors into one line and exit code 2.
 */
import { Command, CommanderError } from 'commander';
import { isUsageError } from '../util/errors.js';
import { COMMANDS } from './commands.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('regnet')
    .description('Explore the RegNet design space: sample, describe, train, benchmark, compare and analyse RegNets and ResNets')
    .version('0.1.0')
    .exitOverride()
    // commander's parse errors (unknown option, bad argument, "did you mean") as one prefixed line
    .configureOutput({
      outputError: (str, write) =>
        write(
          `regnet: ${str
            .trim()
            .split(/\s*\n\s*/)
            .join(' ')} (see --help)\n`,
        ),
    });
  for (const register of COMMANDS) register(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // help and version exit 0; bad flags exit 2 (commander already printed the message)
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return e.exitCode === 0 ? 0 : 2;
  }
  if (isUsageError(e)) {
    process.stderr.write(`regnet: error: ${oneLine(e.message)}\n`);
    return e.exitCode;
  }
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'EPIPE') return 0;
  throw e;
}

/**
 * The first line of a message, printable: a message may quote bytes of a damaged file (a CSV parser
 * shows the bad field), whose control characters would garble the terminal; long quotes are cut.
 */
export function oneLine(message: string, max = 1000): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what it replaces
  const line = message.split('\n')[0]!.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
