/**
 * One run per sweep folder and shard. A whole-sweep run holds OUT/.sweep.lock, a shard run
 * OUT/.sweep.shard-I-of-N.lock, from before its first write until it exits. Shards of one layout run side
 * by side (the tasks of a Slurm array); anything else on the same folder at once (a second run of the same
 * shard, a whole sweep beside shards, shards of another count) would train the same models into the same
 * checkpoint folders, so it is refused with one line naming the holder (pid, host). A `--workers` parent
 * holds the folder lock and its children, given the parent's pid, their shard locks. The lock of a dead
 * holder is taken over; a held lock is touched every minute, so one from another host (a shared
 * filesystem) only counts as abandoned ten minutes after its holder's last sign of life.
 */
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';
import { acquireLock, describeOwner, lockHolder, type Lock } from '../util/lock.js';
import type { Shard } from './shard.js';

const LOCK_FILE = /^\.sweep(?:\.shard-(\d+)-of-(\d+))?\.lock$/;
const HEARTBEAT_MS = 60_000;
const STALE_MS = 10 * 60_000;

/** The lock file of a run of `shard` (undefined: the whole sweep); shard 0/1 is the whole sweep. */
export function sweepLockName(shard: Shard | undefined): string {
  return shard && shard.count > 1 ? `.sweep.shard-${shard.index}-of-${shard.count}.lock` : '.sweep.lock';
}

export interface SweepLockOptions {
  /** what the holder does, shown to whoever finds the folder busy */
  purpose: string;
  /** a --workers child: its parent holds the folder lock */
  parentPid?: number;
}

/** Take the lock of this run of `outDir` (creating the folder) or throw a one-line UsageError naming the holder. */
export function lockSweepFolder(outDir: string, shard: Shard | undefined, options: SweepLockOptions): Lock {
  const name = sweepLockName(shard);
  let lock: Lock;
  try {
    lock = acquireLock(join(outDir, name), { purpose: options.purpose, waitMs: 0, staleAfterMs: STALE_MS, heartbeatMs: HEARTBEAT_MS });
  } catch (e) {
    throw e instanceof UsageError ? new UsageError(`sweep folder ${outDir} is busy: ${e.message}`) : e;
  }
  // taken first, then checked: of two conflicting runs that start together, at least one sees the other
  try {
    checkNoConflict(outDir, name, shard, options.parentPid);
  } catch (e) {
    lock.release();
    throw e;
  }
  // released on a normal exit and on process.exit() (a second Ctrl-C); a killed holder's lock is taken over
  const onExit = () => lock.release();
  process.once('exit', onExit);
  return {
    path: lock.path,
    release() {
      process.off('exit', onExit);
      lock.release();
    },
  };
}

function checkNoConflict(outDir: string, own: string, shard: Shard | undefined, parentPid: number | undefined): void {
  const count = shard && shard.count > 1 ? shard.count : undefined;
  for (const file of readdirSync(outDir).sort()) {
    const m = LOCK_FILE.exec(file);
    if (!m || file === own) continue;
    const otherCount = m[2] === undefined ? undefined : Number(m[2]);
    // another shard of the same layout trains other models
    if (count !== undefined && otherCount === count) continue;
    const held = lockHolder(join(outDir, file), STALE_MS);
    if (!held) continue;
    const owner = held.owner;
    const isParent = otherCount === undefined && parentPid !== undefined && owner?.pid === parentPid && owner.host === hostname();
    if (count !== undefined && isParent) continue;
    throw new UsageError(
      `sweep folder ${outDir} is busy: ${join(outDir, file)} is held by ${describeOwner(owner)}; wait for it to finish, or remove the file if that process is gone`,
    );
  }
}
