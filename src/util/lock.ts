/**
 * Lock files: `<path>` created exclusively, holding the owner (pid, host, start time, purpose). A lock
 * whose owner is gone (same host, process dead) is taken over; one from another host is taken over once
 * it is older than `staleAfterMs` (its owner's liveness cannot be seen from here). A lock held for hours
 * (a sweep) refreshes its modification time every `heartbeatMs`, so its age stays that of its last sign of life.
 */
import { openSync, closeSync, writeSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
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
  /** touch the lock file this often while it is held (for locks held longer than `staleAfterMs`) */
  heartbeatMs?: number;
}

const DEFAULT_STALE_MS = 10 * 60_000;

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
  const staleAfter = opts.staleAfterMs ?? DEFAULT_STALE_MS;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      const mine = () => {
        const o = readOwner(path);
        return o !== null && o.pid === me.pid && o.host === me.host && o.started === me.started;
      };
      let heartbeat: NodeJS.Timeout | undefined;
      if (opts.heartbeatMs) {
        heartbeat = setInterval(() => {
          try {
            if (mine()) utimesSync(path, new Date(), new Date());
          } catch {
            /* gone: nothing to keep alive */
          }
        }, opts.heartbeatMs);
        heartbeat.unref();
      }
      return {
        path,
        release() {
          if (heartbeat) clearInterval(heartbeat);
          if (mine()) rmSync(path, { force: true });
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
    if (Date.now() >= until)
      throw new UsageError(`${path}: held by ${describeOwner(owner)}; wait for it to finish, or remove the file if that process is gone`);
    sleep(25 + Math.floor(Math.random() * 50));
  }
}

/**
 * Who holds the lock at `path` now: undefined when it is free or abandoned (a dead holder), else the
 * holder (null when its owner record cannot be read yet).
 */
export function lockHolder(path: string, staleAfterMs = DEFAULT_STALE_MS): { owner: LockOwner | null } | undefined {
  const owner = readOwner(path);
  if (owner === null) {
    try {
      statSync(path);
    } catch {
      return undefined;
    }
  }
  return abandoned(path, owner, staleAfterMs) ? undefined : { owner };
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
