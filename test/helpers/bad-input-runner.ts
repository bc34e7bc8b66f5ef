/**
 * Child process of the bad-input suite: runs its cases in-process, one after another (and, in a
 * second child started as an unprivileged user when the tests run as root, the read-only ones). Reads
 * [{ args, cwd }] as JSON on stdin, runs each in this process and prints the results as one JSON line.
 */
import { runInProcess, type InProcessResult } from './in-process.js';

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ args: string[]; cwd: string }>;
const signalHandlers = () => process.listenerCount('SIGTERM') + process.listenerCount('SIGINT');
const results: InProcessResult[] = [];
for (const job of jobs) {
  const before = signalHandlers();
  const r = await runInProcess(job.args, job.cwd);
  // a command that failed must not leave its Ctrl-C handler behind
  if (signalHandlers() !== before) r.stderr += `signal handlers left installed: ${before} -> ${signalHandlers()}\n`;
  results.push(r);
}
process.stdout.write(`${JSON.stringify(results)}\n`);
