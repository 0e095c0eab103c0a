// `npm run check:sizes`: the house limits on size, checked. Every file under src/ (or the folders
// given as arguments) of more than MAX_FILE_LINES lines, and every function in it — declaration,
// method, accessor, constructor, function expression or arrow — of more than MAX_FUNCTION_LINES
// lines, is listed, and the check fails. A function's lines run from its first token (a method's
// name, an arrow's parameters) to its closing brace, nested functions included: a closure of 160
// lines is one long function, whatever it holds.
//
// PENDING names the offences another change is taking apart (file and what, not the line or the
// length): each is printed on every run but does not fail it; an entry that no longer matches an
// offence — the function was split, the file moved — fails the check until it is removed, so the
// list only ever shrinks.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { argv, exit, stderr, stdout } from 'node:process';
import ts from 'typescript';

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

/** Issue 21, item 1: the composition root (app.ts, stages.ts, auth/assemble.ts) is being rebuilt as one. */
const PENDING = [];

/** Every .ts file under `dir`, in a stable order. */
async function typeScriptFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** What to call a function in the list: its own name, else the name it is assigned to or the key it is under. */
function functionName(node) {
  if (node.name && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) || ts.isPrivateIdentifier(node.name)))
    return node.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) && ts.isIdentifier(parent.name)) return parent.name.text;
  return '(anonymous)';
}

/** The offences of one file's text: the file's own length, then each long function, in source order. */
function sizeOffences(fileName, text) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const offences = [];
  const fileLines = source.getLineStarts().length - (text.endsWith('\n') ? 1 : 0);
  if (fileLines > MAX_FILE_LINES) offences.push({ fileName, line: 1, lines: fileLines, what: 'file', limit: MAX_FILE_LINES });
  const visit = (node) => {
    if (isFunctionLike(node) && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > MAX_FUNCTION_LINES) {
        offences.push({ fileName, line: first + 1, lines, what: `function ${functionName(node)}`, limit: MAX_FUNCTION_LINES });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return offences;
}

/** Whether `fileName` lies under one of the folders checked: a pending entry elsewhere is not this run's business. */
function underRoots(fileName, roots) {
  return roots.some((root) => !relative(root, fileName).startsWith('..'));
}

async function main() {
  const roots = argv.length > 2 ? argv.slice(2) : ['src'];
  const offences = [];
  for (const root of roots) {
    for (const file of await typeScriptFiles(root)) offences.push(...sizeOffences(relative('.', file), await readFile(file, 'utf8')));
  }
  const pendingOf = (offence) => PENDING.find((entry) => entry.fileName === offence.fileName && entry.what === offence.what);
  const failing = offences.filter((offence) => pendingOf(offence) === undefined);
  const stale = PENDING.filter((entry) => underRoots(entry.fileName, roots) && !offences.some((offence) => pendingOf(offence) === entry));
  for (const offence of offences.filter((offence) => pendingOf(offence) !== undefined)) {
    stdout.write(`${describe(offence)} — pending: ${pendingOf(offence).why}\n`);
  }
  for (const offence of failing) stderr.write(`${describe(offence)}\n`);
  for (const entry of stale)
    stderr.write(`${entry.fileName}: ${entry.what} is no longer over the limits: remove it from PENDING in scripts/check-sizes.mjs\n`);
  if (failing.length === 0 && stale.length === 0) {
    stdout.write(
      `check:sizes: no file over ${MAX_FILE_LINES} lines, no function over ${MAX_FUNCTION_LINES} lines${offences.length > 0 ? ' but the pending ones above' : ''}\n`,
    );
    return;
  }
  if (failing.length > 0) stderr.write(`check:sizes: ${failing.length} over the limits; split them into named steps (CONTRIBUTING.md)\n`);
  exit(1);
}

function describe({ fileName, line, lines, what, limit }) {
  return `${fileName}:${line}: ${what} is ${lines} lines (limit ${limit})`;
}

await main();
