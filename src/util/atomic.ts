/**
 * Atomic file writes: write a temp file beside the target, fsync, then rename over it. Temp names carry
 * the host and pid of the writer, so a later run can tell the leftovers of a killed writer (same host,
 * process gone) from a write in flight, and remove them.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { crashPoint } from './crash-points.js';

/** Host names may hold dots; ours are kept out of the pattern by replacing anything but [A-Za-z0-9-]. */
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
const TEMP = /^\.(.+)\.([A-Za-z0-9-]+)\.(\d+)\.(\d+)\.tmp$/;

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${HOST}.${process.pid}.${Date.now()}.tmp`);
}

/**
 * mkdir -p, one component at a time: Node's recursive mkdirSync never returns on some paths (under
 * /proc it loops on ENOENT), while a plain mkdirSync of each missing component fails with the real error.
 */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made by a concurrent writer meanwhile
    }
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  makeDir(dir);
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    crashPoint(`write:${basename(path)}`);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Whether process `pid` runs on this host (EPERM: it exists but is not ours). A zombie has ended: where
 * PID 1 does not reap orphans (containers without an init), a killed lock holder stays a zombie, and
 * kill(pid, 0) alone would keep its lock forever.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/** Linux: the process state in /proc is Z (zombie) or X (dead); elsewhere false. */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // pid (comm) state ...: comm may hold spaces and parentheses
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/** Temp files of another host are only removed once a day old (that host's writer may still run). */
const FOREIGN_TEMP_AGE_MS = 24 * 3600 * 1000;

/** Remove the temp files that killed writers left in `dir`; returns how many were removed. */
export function removeStaleTemps(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m) continue;
    const [, , host, pid] = m;
    const path = join(dir, name);
    let stale: boolean;
    if (host === HOST) stale = Number(pid) !== process.pid && !processAlive(Number(pid));
    else {
      try {
        stale = Date.now() - statSync(path).mtimeMs > FOREIGN_TEMP_AGE_MS;
      } catch {
        stale = false;
      }
    }
    if (stale) {
      rmSync(path, { force: true, recursive: true });
      removed++;
    }
  }
  return removed;
}

/** fsync a folder so the renames in it survive a power loss (best effort: not every filesystem allows it). */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not supported here */
  }
}
