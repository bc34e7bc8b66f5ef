/**
 * The layering rule of src/ and a checker for it. Layers, lowest first; a file may import from its own
 * level or a lower one, never from a higher one. Folders on one level (data, io, results; train, bench,
 * analyze) may import each other. A file's layer is its first folder under src/; files at the src/ root
 * and folders not listed here are reported too, so every new file has to be placed in a layer.
 *
 * Imports are read with the TypeScript parser (so comments and strings never count): static
 * `import ... from`, `import type`, side-effect `import '...'`, `export ... from`, dynamic `import('...')`
 * and `import('...')` types. Only relative specifiers are checked; packages and node: builtins are not.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';

export const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['space'],
  ['arch'],
  ['data', 'io', 'results'],
  ['engine'],
  ['train', 'bench', 'analyze'],
  ['sweep'],
  ['cli'],
];

/** A source file: its path relative to src/ with '/' separators (e.g. `engine/tfjs/net.ts`), and its text. */
export type SourceFile = readonly [path: string, source: string];

export interface Violation {
  /** the importing file, relative to src/ */
  file: string;
  /** 1-based line of the import, 0 for a misplaced file */
  line: number;
  /** the import specifier as written ('' for a misplaced file) */
  specifier: string;
  message: string;
}

/** Index into LAYERS of a path relative to src/, or undefined for the src/ root and unknown folders. */
export function layerOf(path: string): number | undefined {
  const parts = path.split('/');
  if (parts.length < 2) return undefined;
  const i = LAYERS.findIndex((level) => level.includes(parts[0]!));
  return i < 0 ? undefined : i;
}

function layerName(i: number): string {
  return LAYERS[i]!.join('|');
}

export interface ImportRef {
  specifier: string;
  line: number;
  /** undefined for a literal specifier; the expression's text for a dynamic import that cannot be checked */
  computed?: string;
}

/** Every module specifier of one file (relative or not), with its line. */
export function importsOf(path: string, source: string): ImportRef[] {
  const sf = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const literal = (n: ts.Node | undefined) => (n && (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) ? n.text : undefined);
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) {
      const s = literal(n.moduleSpecifier);
      if (s !== undefined) out.push({ specifier: s, line: lineOf(n) });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = n.arguments[0];
      const s = literal(arg);
      out.push(s !== undefined ? { specifier: s, line: lineOf(n) } : { specifier: '', line: lineOf(n), computed: arg?.getText(sf) ?? '' });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) {
      const s = literal(n.argument.literal);
      if (s !== undefined) out.push({ specifier: s, line: lineOf(n) });
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      const s = literal(n.moduleReference.expression);
      if (s !== undefined) out.push({ specifier: s, line: lineOf(n) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** All violations of the layering rule in a set of files (paths relative to src/). */
export function checkLayers(files: Iterable<SourceFile>): Violation[] {
  const out: Violation[] = [];
  for (const [file, source] of files) {
    const from = layerOf(file);
    if (from === undefined) {
      out.push({ file, line: 0, specifier: '', message: `${file} is not in a layer folder (${LAYERS.flat().join(', ')})` });
    }
    for (const ref of importsOf(file, source)) {
      if (ref.computed !== undefined) {
        out.push({
          file,
          line: ref.line,
          specifier: '',
          message: `dynamic import of a computed specifier (${ref.computed}) cannot be checked`,
        });
        continue;
      }
      if (!ref.specifier.startsWith('./') && !ref.specifier.startsWith('../')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), ref.specifier));
      const at = `${file}:${ref.line} imports '${ref.specifier}'`;
      if (target.startsWith('../')) {
        out.push({ file, line: ref.line, specifier: ref.specifier, message: `${at}, outside src/` });
        continue;
      }
      const to = layerOf(target);
      if (to === undefined) {
        out.push({ file, line: ref.line, specifier: ref.specifier, message: `${at} (${target}), which is not in a layer folder` });
      } else if (from !== undefined && to > from) {
        out.push({
          file,
          line: ref.line,
          specifier: ref.specifier,
          message: `${at}: ${layerName(from)} may not import the higher layer ${layerName(to)}`,
        });
      }
    }
  }
  return out;
}

/** Every .ts file under dir (recursively), as [path relative to dir with '/' separators, text], sorted by path. */
export function readTree(dir: string, prefix = ''): SourceFile[] {
  const out: SourceFile[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...readTree(dir, rel));
    else if (e.isFile() && e.name.endsWith('.ts')) out.push([rel, readFileSync(join(dir, rel), 'utf8')]);
  }
  return out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}
