/** Processes of a test: whether a process group still has a live (non-zombie) member, waiting for it to end. */
import { readdirSync, readFileSync } from 'node:fs';

/** Live members of process group `pgid` (Linux: from /proc; elsewhere: whether kill(-pgid, 0) succeeds). */
export function groupMembers(pgid: number): number[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const out: number[] = [];
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') out.push(Number(p));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** Resolves true once group `pgid` has no live member, false after `timeoutMs`. */
export async function groupEnded(pgid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (groupMembers(pgid).length === 0) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return groupMembers(pgid).length === 0;
}
