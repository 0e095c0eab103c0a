/**
 * JSON read once, the same way by every reader: a signed payload whose object repeats a key is
 * refused, because JSON readers disagree on which of the two values counts (JavaScript's and Go's
 * take the last, others the first), so a payload could say one digest to this gateway and another
 * to the client that checks it after us.
 *
 * The lexing is @humanwhocodes/momoa's tokenizer (the JSON reader behind ESLint's JSON support);
 * the check walks its flat token list with an explicit stack, so nesting costs no recursion. The
 * value itself is then JSON.parse's.
 */
import { tokenize } from '@humanwhocodes/momoa';

/** Why `text` is not one unambiguous JSON value, or undefined when it is. */
export function ambiguityOf(text: string): string | undefined {
  let tokens;
  try {
    tokens = tokenize(text, { mode: 'json' });
  } catch {
    return 'not JSON';
  }
  // One set of keys per open object, undefined for an open array.
  const open: (Set<string> | undefined)[] = [];
  for (const [index, token] of tokens.entries()) {
    if (token.type === 'LBrace') open.push(new Set());
    else if (token.type === 'LBracket') open.push(undefined);
    else if (token.type === 'RBrace' || token.type === 'RBracket') open.pop();
    else if (token.type === 'String' && tokens[index + 1]?.type === 'Colon') {
      const keys = open.at(-1);
      const key = JSON.parse(text.slice(token.loc.start.offset, token.loc.end.offset)) as string;
      if (keys?.has(key)) return `the key ${JSON.stringify(key).slice(0, 80)} appears twice in one object`;
      keys?.add(key);
    }
  }
  return undefined;
}

/** The value of `text` when it is unambiguous JSON; throws with the reason otherwise. */
export function parseUnambiguousJson(text: string): unknown {
  const problem = ambiguityOf(text);
  if (problem) throw new Error(problem);
  return JSON.parse(text) as unknown;
}
