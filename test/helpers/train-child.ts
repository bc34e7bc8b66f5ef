/** Child process for crash tests: `node --import tsx train-child.ts REQUEST_JSON` runs trainModel once. */
import { trainModel } from '../../src/train/run.js';
import type { TrainRequest } from '../../src/train/types.js';

const req = JSON.parse(process.argv[2]!) as TrainRequest;
const r = await trainModel(req);
process.stdout.write(JSON.stringify({ status: r.status, steps: r.steps }) + '\n');
