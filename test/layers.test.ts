/**
 * src/ imports only downward: util -> space -> arch -> (data | io | results) -> engine ->
 * (train | bench | analyze) -> sweep -> cli (see test/helpers/layers.ts and the README's "Code layout").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { checkLayers, importsOf, LAYERS, layerOf, readTree, type SourceFile } from './helpers/layers.js';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

test('every file of src/ is in a layer and imports only its own or lower layers', () => {
  const files = readTree(SRC);
  // not vacuous: the tree was read, every layer folder has files, and relative imports were found
  assert.ok(files.length > 50, `read only ${files.length} files from ${SRC}`);
  for (const folder of LAYERS.flat())
    assert.ok(
      files.some(([p]) => p.startsWith(`${folder}/`)),
      `no files in src/${folder}/`,
    );
  const relative = files.flatMap(([p, s]) => importsOf(p, s)).filter((r) => r.specifier.startsWith('.'));
  assert.ok(relative.length > 200, `found only ${relative.length} relative imports`);

  const violations = checkLayers(files);
  assert.deepEqual(
    violations.map((v) => v.message),
    [],
  );
});

test('the checker reports an upward import, and only that', () => {
  const files: SourceFile[] = [
    ['util/format.ts', "import { renderTable } from '../cli/table.js';\nexport const f = renderTable;\n"],
    ['cli/table.ts', "import { f } from '../util/format.js';\nexport function renderTable() { return f; }\n"],
  ];
  const v = checkLayers(files);
  assert.equal(v.length, 1, JSON.stringify(v));
  assert.deepEqual(
    { file: v[0]!.file, line: v[0]!.line, specifier: v[0]!.specifier },
    { file: 'util/format.ts', line: 1, specifier: '../cli/table.js' },
  );
  assert.match(v[0]!.message, /util may not import the higher layer cli/);
});

test('the checker sees every import form and ignores comments, strings and packages', () => {
  const src = [
    "// import { x } from '../cli/a.js';",
    "/* export * from '../cli/a.js'; */",
    'const s = "import(\'../cli/a.js\')";',
    "import { z } from 'zod';",
    "import { readFileSync } from 'node:fs';",
    "import { a } from '../util/a.js';", // lower: fine
    "import { b } from '../data/b.js';", // same level: fine
    "import type { T } from '../engine/t.js';", // 8
    "import '../engine/side-effect.js';", // 9
    "export { c } from '../sweep/c.js';", // 10
    "export * from '../cli/d.js';", // 11
    'export async function f() {',
    "  return import('../train/run.js');", // 13
    '}',
    "export type U = import('../analyze/u.js').U;", // 15
    'export async function g(name: string) { return import(name); }', // 16
  ].join('\n');
  const v = checkLayers([['results/x.ts', src]]);
  assert.deepEqual(
    v.map((x) => [x.line, x.specifier]),
    [
      [8, '../engine/t.js'],
      [9, '../engine/side-effect.js'],
      [10, '../sweep/c.js'],
      [11, '../cli/d.js'],
      [13, '../train/run.js'],
      [15, '../analyze/u.js'],
      [16, ''],
    ],
  );
  assert.match(v[6]!.message, /computed specifier \(name\)/);
});

test('files at the src/ root or in unknown folders, and imports of them, are reported', () => {
  assert.equal(layerOf('complexity.ts'), undefined);
  assert.equal(layerOf('misc/x.ts'), undefined);
  assert.equal(layerOf('engine/tfjs/net.ts'), 4);
  const v = checkLayers([
    ['complexity.ts', "import type { Network } from './arch/ir.js';\n"],
    ['misc/x.ts', 'export const x = 1;\n'],
    ['space/y.ts', "import type { C } from '../complexity.js';\nimport { x } from '../misc/x.js';\nimport p from '../../package.json';\n"],
  ]);
  assert.deepEqual(
    v.map((x) => [x.file, x.line, x.specifier]),
    [
      ['complexity.ts', 0, ''],
      ['misc/x.ts', 0, ''],
      ['space/y.ts', 1, '../complexity.js'],
      ['space/y.ts', 2, '../misc/x.js'],
      ['space/y.ts', 3, '../../package.json'],
    ],
  );
});
