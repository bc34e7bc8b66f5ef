/** Engine selection: availability report and selectEngine agree; unavailable engines are UsageErrors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listEngines, resolveAuto, selectEngine } from '../src/engine/select.js';
import { isUsageError } from '../src/util/errors.js';

test('listEngines and selectEngine agree for every engine', async () => {
  const list = await listEngines();
  assert.deepEqual(list.map((e) => e.engine).sort(), ['cpu', 'onnx', 'tfjs-gpu', 'tfjs-node', 'torch', 'wasm']);
  assert.ok(list.find((e) => e.engine === 'wasm')!.available);
  for (const e of list) {
    assert.ok(e.reason.length > 0);
    if (e.engine === 'torch' || e.engine === 'cpu') continue; // torch: its own tests; cpu: slow, same path as wasm
    if (e.available) {
      const eng = await selectEngine(e.engine);
      assert.equal(eng.info.engine, e.engine);
    } else {
      await assert.rejects(
        selectEngine(e.engine),
        (err: unknown) =>
          isUsageError(err) && !String((err as Error).message).includes('\n') && String((err as Error).message).includes(e.engine),
      );
    }
  }
});

test('auto resolves to an available engine, preferring torch, then tfjs-gpu, tfjs-node, wasm', async () => {
  const list = await listEngines();
  const avail = (n: string) => list.find((e) => e.engine === n)!.available;
  const auto = await resolveAuto();
  assert.ok(avail(auto));
  const torch = list.find((e) => e.engine === 'torch')!;
  if (torch.available && !(avail('tfjs-gpu') && !torch.cuda)) assert.equal(auto, 'torch');
  else if (avail('tfjs-gpu')) assert.equal(auto, 'tfjs-gpu');
  else if (avail('tfjs-node')) assert.equal(auto, 'tfjs-node');
  else assert.equal(auto, 'wasm');
  await assert.rejects(selectEngine('nope' as never), (err: unknown) => isUsageError(err));
});
