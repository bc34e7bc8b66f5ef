/**
 * Output paths checked before any work starts: a command that would train for an hour and then fail to
 * write its result (a read-only folder, a file where a folder belongs, or the reverse) fails at once
 * instead, with one line naming the flag. Nothing is created here; folders that do not exist yet only
 * need their nearest existing ancestor to be a writable folder.
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.js';

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // ENOTDIR: a component of the path is a file; reported by the ancestor walk
    if (code === 'ENOTDIR') return undefined;
    throw new UsageError(`cannot access ${path} (${code ?? (e as Error).message})`);
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The folder that would hold `path`'s new entries: `dir` itself when it exists, else its nearest
 * existing ancestor, which must be a writable folder.
 */
function checkCreatableIn(dir: string, flag: string, shown: string): void {
  let at = resolve(dir);
  for (;;) {
    const st = statOrUndefined(at);
    if (st) {
      if (!st.isDirectory()) throw new UsageError(`${flag} ${shown}: ${at} is a file, not a folder`);
      if (!writable(at)) throw new UsageError(`${flag} ${shown}: folder ${at} is not writable`);
      return;
    }
    const up = dirname(at);
    if (up === at) throw new UsageError(`${flag} ${shown}: no existing folder on the path`);
    at = up;
  }
}

/** An output file (written atomically: temp file and rename in its folder). */
export function checkWritableFile(path: string, flag: string): void {
  if (path.trim() === '') throw new UsageError(`${flag}: the path is empty`);
  const st = statOrUndefined(path);
  if (st?.isDirectory()) throw new UsageError(`${flag} ${path} is a folder; give a file path`);
  checkCreatableIn(dirname(resolve(path)), flag, path);
}

/** An output folder (created when missing; files are written inside it). */
export function checkWritableDir(path: string, flag: string): void {
  if (path.trim() === '') throw new UsageError(`${flag}: the path is empty`);
  const st = statOrUndefined(path);
  if (st && !st.isDirectory()) throw new UsageError(`${flag} ${path} is a file, not a folder`);
  checkCreatableIn(path, flag, path);
}
