/**
 * Lock files: `<path>` created exclusively, holding the owner (pid, host, start time, purpose). A lock
 * whose owner is gone (same host, process dead) is taken over; one from another host is taken over once
 * it is older than `staleAfterMs` (its owner's liveness cannot be seen from here).
 */
import { openSync, closeSync, writeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { makeDir, processAlive } from './atomic.js';
import { UsageError } from './errors.js';

export interface LockOwner {
  pid: number;
  host: string;
  started: string;
  purpose: string;
}

export interface LockOptions {
  /** what the holder does, shown to whoever finds the lock held */
  purpose: string;
  /** how long to wait for a live holder; 0: fail at once */
  waitMs?: number;
  /** age after which a lock from another host counts as abandoned */
  staleAfterMs?: number;
}

export interface Lock {
  path: string;
  release(): void;
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Whether the holder of the lock at `path` is gone. */
function abandoned(path: string, owner: LockOwner | null, staleAfterMs: number): boolean {
  if (owner && owner.host === hostname()) return !processAlive(owner.pid);
  // unreadable (killed while writing the owner) or another host: judge by age
  try {
    const age = Date.now() - statSync(path).mtimeMs;
    return owner ? age > staleAfterMs : age > 5_000;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export function describeOwner(o: LockOwner | null): string {
  return o ? `pid ${o.pid} on ${o.host} (${o.purpose}, since ${o.started})` : 'an unknown process';
}

/** Take the lock or throw a UsageError naming the holder once `waitMs` has passed. */
export function acquireLock(path: string, opts: LockOptions): Lock {
  makeDir(dirname(path));
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), purpose: opts.purpose };
  const until = Date.now() + (opts.waitMs ?? 0);
  const staleAfter = opts.staleAfterMs ?? 10 * 60_000;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      return {
        path,
        release() {
          const o = readOwner(path);
          if (o && o.pid === me.pid && o.host === me.host && o.started === me.started) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readOwner(path);
    if (abandoned(path, owner, staleAfter)) {
      // re-read right before removing, so a lock taken over by someone else meanwhile is left alone
      const again = readOwner(path);
      if (JSON.stringify(again) === JSON.stringify(owner)) rmSync(path, { force: true, recursive: true });
      continue;
    }
    if (Date.now() >= until) throw new UsageError(`${path}: held by ${describeOwner(owner)}; wait for it to finish, or remove the file if that process is gone`);
    sleep(25 + Math.floor(Math.random() * 50));
  }
}

/** Run `fn` under the lock at `path`. */
export function withLock<T>(path: string, opts: LockOptions, fn: () => T): T {
  const lock = acquireLock(path, opts);
  try {
    return fn();
  } finally {
    lock.release();
  }
}
