/**
 * The module boundaries of ARCHITECTURE.md ("Who may import whom"), checked by `npm run
 * check:imports` (scripts/test.sh runs it before the tests). Each rule names a folder and the
 * folders it may import from inside src/; anything else it imports from src/ is an error. npm
 * packages and node: built-ins are not limited here.
 *
 * When a rule is wrong, change it here and in ARCHITECTURE.md's table together, and say why.
 */

/** `to` of a rule that allows only `allowed` (folders under src/, or files like 'log.ts') besides the importer's own folder. */
function onlyFrom(own, allowed) {
  const paths = [own, ...allowed].map((entry) => (entry.endsWith('.ts') ? `^src/${entry.replace(/\./g, '\\.')}$` : `^src/${entry}/`));
  return { path: '^src/', pathNot: paths };
}

/** A folder that may import only `allowed` (and itself). */
function folderRule(folder, allowed, comment) {
  return {
    name: `${folder}-imports-only-${allowed.length === 0 ? 'itself' : allowed.map((entry) => entry.replace(/\.ts$/, '')).join('-')}`,
    comment,
    severity: 'error',
    from: { path: `^src/${folder}/` },
    to: onlyFrom(folder, allowed),
  };
}

const LEAVES = ['oci', 'lib', 'log.ts'];
const BELOW_CONFIG = [...LEAVES, 'config'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle means two modules are one concern split in two, or one reaches back into an earlier stage.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    folderRule('oci', [], 'src/oci/ is the leaf every stage may use: registry grammar, media types, the error catalogue and responder.'),
    {
      name: 'log-imports-nothing',
      comment: 'src/log.ts is a leaf: the logger types and line shape.',
      severity: 'error',
      from: { path: '^src/log\\.ts$' },
      to: { path: '^src/', pathNot: '^src/log\\.ts$' },
    },
    folderRule('lib', ['oci'], 'src/lib/ holds leaf utilities (atomic write, watched file, IP matching, errno, the in-process section lock).'),
    folderRule('config', LEAVES, 'The config schema and its loading know no stage.'),
    folderRule('redis', BELOW_CONFIG, 'Infrastructure: the shared Redis connection.'),
    folderRule('metrics', BELOW_CONFIG, 'Infrastructure: the Prometheus registry and listener.'),
    folderRule('server', [...BELOW_CONFIG, 'redis', 'metrics'], 'The listener knows nothing about registries beyond src/oci/.'),
    folderRule(
      'auth',
      [...BELOW_CONFIG, 'redis'],
      'Identity: never the pipeline (gateway/), the decision (access/), a backend, the listener or the UI.',
    ),
    folderRule(
      'access',
      [...BELOW_CONFIG, 'redis', 'auth'],
      'The decision: auth/ only for its types (next rule); a backend only as the narrow interfaces access/ declares itself, never backend/.',
    ),
    {
      name: 'access-imports-auth-types-only',
      comment: 'access/ decides on an Identity; it does not authenticate.',
      severity: 'error',
      from: { path: '^src/access/' },
      to: { path: '^src/auth/', dependencyTypesNot: ['type-only'] },
    },
    folderRule(
      'events',
      [...BELOW_CONFIG, 'access'],
      "Webhooks and their queue: access/ for the repository patterns and the audit sink's types; told of requests by gateway/, never importing it.",
    ),
    folderRule(
      'signatures',
      [...BELOW_CONFIG, 'access'],
      'Signature verdicts: the repository patterns of access/; the registry only through the reader interface it declares itself.',
    ),
    folderRule(
      'backend',
      BELOW_CONFIG,
      'Backends: the section lock is a leaf (src/lib/section-lock.ts); never the listener, gateway/, auth/, access/ or ui/.',
    ),
    {
      name: 'gateway-is-not-a-composition-root',
      comment: 'The pipeline may use every stage, but not the UI, the commands or what assembles it.',
      severity: 'error',
      from: { path: '^src/gateway/' },
      to: { path: ['^src/ui/', '^src/cli/', '^src/assembly/'] },
    },
    {
      name: 'ui-is-a-sibling-of-gateway',
      comment:
        'The web UI runs the same stages as /v2/, not the pipeline itself. What the two front ends share (the audit records, the visible-catalog walk) lives in access/, where both import it.',
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: ['^src/gateway/', '^src/cli/', '^src/assembly/'] },
    },
    {
      name: 'underscore-files-are-folder-private',
      comment:
        "A file whose name starts with `_` is a helper of its own folder's files (CONTRIBUTING.md, ARCHITECTURE.md): only a file in the same folder imports it.",
      severity: 'error',
      from: { path: '^(src/|src/.+/)[^/]+$' },
      to: { path: '/_[^/]+$', pathNot: '^$1_[^/]+$' },
    },
    {
      name: 'only-cli-imports-the-assembly',
      comment: 'src/assembly/ is the composition root (what the process holds, a generation, reload): only the commands start it.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/cli/', '^src/assembly/'] },
      to: { path: '^src/assembly/' },
    },
    {
      name: 'only-cli-imports-cli',
      comment: 'The commands are a composition root: nothing else imports them.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js'],
    },
  },
};
