/** The `regnet ...` lines of the README's ```sh blocks, parsed as a shell would split them. */

export interface ReadmeCommand {
  /** 1-based line number in README.md */
  line: number;
  text: string;
  args: string[];
}

/** Split a shell line into words: single and double quotes, a `#` comment after whitespace. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === '#' && word === null) {
      break;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} in: ${line}`);
  if (word !== null) words.push(word);
  return words;
}

/** Every line of a ```sh block that starts with `regnet `. */
export function readmeCommands(markdown: string): ReadmeCommand[] {
  const out: ReadmeCommand[] = [];
  let inSh = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^```/.test(text)) {
      inSh = !inSh && /^```(sh|bash|shell)\s*$/.test(text);
      return;
    }
    if (inSh && /^regnet\s/.test(text)) out.push({ line: i + 1, text, args: shellWords(text).slice(1) });
  });
  return out;
}
