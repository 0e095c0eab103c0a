/**
 * docs/config.md, rendered from the schema: every key with its dotted path, type, default and
 * meaning, one table per section. The schema's JSON Schema (zod's `toJSONSchema`, input side, so
 * defaults read as they are written in YAML) is walked; a key's meaning is its `description`, and
 * two more metadata fields say what the JSON Schema cannot: `docType` (e.g. `duration`, `path`)
 * and `docDefault` (a default that is not a fixed value, e.g. `dataDir/registry`).
 * `npm run docs:config` writes the file; test/unit/config-docs.test.ts fails when it is stale.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export const CONFIG_DOCS_FILE = 'docs/config.md';
export const CONFIG_DOCS_COMMAND = 'npm run docs:config';

interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly description?: string;
  readonly docType?: string;
  readonly docDefault?: string;
}

/** One documented key. */
export interface ConfigKey {
  /** Dotted path; `[]` stands for every element of a list (`access[].repository`). */
  readonly path: string;
  readonly type: string;
  readonly default: string;
  /** Empty when the schema gives the key no description (a test refuses that). */
  readonly description: string;
}

export interface ConfigSection {
  /** The section's own key (empty for the top level). */
  readonly path: string;
  readonly keys: readonly ConfigKey[];
}

const code = (text: string) => `\`${text}\``;

function isSection(node: SchemaNode): boolean {
  return node.properties !== undefined;
}

function literal(value: unknown): string {
  return code(typeof value === 'string' ? value : JSON.stringify(value));
}

function typeOf(node: SchemaNode): string {
  if (node.docType !== undefined) return node.docType;
  if (node.anyOf) return node.anyOf.map(typeOf).join(' or ');
  if (node.const !== undefined) return literal(node.const);
  if (node.enum) return node.enum.map(literal).join(', ');
  if (node.properties) return 'section';
  if (node.type === 'array') return node.items ? `list of ${typeOf(node.items)}` : 'list';
  if (node.type === 'integer' || node.type === 'number') {
    const range = node.minimum !== undefined && node.maximum !== undefined ? `, ${node.minimum}–${node.maximum}` : '';
    return `${node.type}${range}`;
  }
  return Array.isArray(node.type) ? node.type.join(' or ') : String(node.type ?? 'any');
}

/** Objects inside a union read as their keys (`{cert, key}`), so a union's type stays one short line. */
function variantType(node: SchemaNode): string {
  return node.properties ? code(`{${Object.keys(node.properties).join(', ')}}`) : typeOf(node);
}

function defaultOf(node: SchemaNode, required: boolean): string {
  if (node.docDefault !== undefined) return node.docDefault;
  if (node.default !== undefined) return typeof node.default === 'object' && !Array.isArray(node.default) ? '' : literal(node.default);
  return required ? 'required' : '';
}

function keyOf(path: string, node: SchemaNode, required: boolean): ConfigKey {
  const type = node.anyOf && node.docType === undefined ? node.anyOf.map(variantType).join(' or ') : typeOf(node);
  return { path, type, default: defaultOf(node, required), description: node.description ?? '' };
}

/** Where a node's keys continue: an object's properties, a list's element, a union's object variants. */
function children(path: string, node: SchemaNode): Array<{ path: string; node: SchemaNode; required: boolean }> {
  if (node.properties) {
    const properties = node.properties;
    return Object.keys(properties).map((name) => ({
      path: path === '' ? name : `${path}.${name}`,
      node: properties[name] as SchemaNode,
      required: node.required?.includes(name) ?? false,
    }));
  }
  if (node.items && isSection(node.items)) return children(`${path}[]`, node.items);
  if (node.anyOf) return node.anyOf.flatMap((variant) => (isSection(variant) ? children(path, variant) : []));
  return [];
}

/**
 * Top-level sections (objects, and lists of objects) and the sections right inside them get
 * tables of their own; deeper ones, and objects inside a union, stay in their parent's table.
 */
function collect(
  path: string,
  node: SchemaNode,
  required: boolean,
  tableDepth: number,
  sections: ConfigSection[],
  into: ConfigKey[],
): void {
  const ownTable = tableDepth < 2 && (isSection(node) || (node.items !== undefined && isSection(node.items)));
  const keys: ConfigKey[] = ownTable ? [] : into;
  if (ownTable) sections.push({ path, keys });
  keys.push(keyOf(path, node, required));
  const next = ownTable ? tableDepth + 1 : 2;
  for (const child of children(path, node)) collect(child.path, child.node, child.required, next, sections, keys);
}

/** Every key of the schema, grouped in sections, in the schema's order. */
export function configSections(): ConfigSection[] {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as SchemaNode;
  const topLevel: ConfigKey[] = [];
  const sections: ConfigSection[] = [{ path: '', keys: topLevel }];
  for (const child of children('', root)) collect(child.path, child.node, child.required, 0, sections, topLevel);
  return sections.filter((section) => section.keys.length > 0);
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(keys: readonly ConfigKey[]): string[] {
  return [
    '| key | type | default | meaning |',
    '| --- | --- | --- | --- |',
    ...keys.map((key) => `| ${code(key.path)} | ${cell(key.type)} | ${cell(key.default)} | ${cell(key.description)} |`),
  ];
}

export function renderConfigDocs(): string {
  const lines = [
    '# Configuration reference',
    '',
    `Generated from the config schema (\`src/config/schema.ts\`, \`src/config/schema/\`) by \`${CONFIG_DOCS_COMMAND}\`: edit the schema, not this file.`,
    '',
    'The config file is YAML (`registry-gate serve --config FILE`, or the file `REGISTRY_GATE_CONFIG` names). Every key is optional',
    'unless marked required (within its section); unknown keys are errors. Relative paths are resolved against the config',
    "file's folder. A duration is a number of seconds or a string such as `500ms`, `30s`, `15m`, `24h` or `30d`. Environment",
    'variables and `serve` flags that set keys: [Environment](install.md#environment) in the guide. `[]` in a key stands',
    'for each element of a list.',
  ];
  for (const section of configSections()) {
    lines.push('', section.path === '' ? '## Top level' : `## ${code(section.path)}`, '', ...table(section.keys));
  }
  return `${lines.join('\n')}\n`;
}
