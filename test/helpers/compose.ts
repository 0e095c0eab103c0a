/**
 * Runs a compose file's services with podman, as compose would, inside one network namespace.
 *
 * Why not podman-compose: Debian 12's podman-compose (1.0.3) always attaches every service to a
 * bridge network it creates (`podman network create <project>_default`, then `--net
 * <project>_default --network-alias <service>`), even for `network_mode: host`. Bridge addresses
 * are not loopback, and tests may reach loopback only. So this reads the file itself and starts
 * each service with `podman run --network ns:<namespace>`: all services share the namespace's
 * loopback, every service name resolves to 127.0.0.1 (what compose's DNS gives, here), and a
 * published port `H:C` is reachable at 127.0.0.1:H when H = C (anything else is refused).
 *
 * Only the keys below are understood; any other key fails the test, so the compose files cannot
 * grow a setting that no test ran: image, build (the image is built beforehand), ports,
 * environment, volumes (short syntax; relative paths against the file's folder; other names are
 * named volumes), depends_on (start order), restart (no supervisor here), command.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';

const SERVICE_KEYS = new Set(['image', 'build', 'ports', 'environment', 'volumes', 'depends_on', 'restart', 'command']);
const TOP_KEYS = new Set(['services', 'volumes']);

export interface ComposeService {
  readonly name: string;
  readonly image: string;
  readonly environment: Record<string, string>;
  /** `podman run -v` values: host paths resolved, named volumes prefixed with the project. */
  readonly volumes: string[];
  readonly ports: number[];
  readonly dependsOn: string[];
  readonly command: string[] | undefined;
  readonly build: { context: string; args: Record<string, string> } | undefined;
}

export interface ComposeProject {
  readonly name: string;
  /** In start order (dependencies first). */
  readonly services: ComposeService[];
}

/** Compose's variable syntax: `${NAME}`, `${NAME:-default}`, `$$` for a dollar. */
export function interpolate(text: string, env: Readonly<Record<string, string | undefined>>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$/g,
    (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      if (name === undefined) throw new Error(`compose: unsupported $ form in "${text}"`);
      const value = env[name];
      return value !== undefined && value !== '' ? value : (fallback ?? '');
    },
  );
}

/** A compose `command:` given as one string: its words. */
function commandWords(command: unknown, service: string): string[] {
  if (typeof command !== 'string') throw new Error(`${service}: command must be a string or a list`);
  return command.split(/\s+/);
}

function deepInterpolate(value: unknown, env: Readonly<Record<string, string | undefined>>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((item) => deepInterpolate(item, env));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, deepInterpolate(inner, env)]));
  return value;
}

function environmentOf(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (Array.isArray(value))
    return Object.fromEntries(value.map((item: string) => [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, inner]) => [key, String(inner)]));
}

function portOf(spec: string, service: string): number {
  const match = /^(\d+):(\d+)$/.exec(spec);
  if (!match || match[1] !== match[2])
    throw new Error(`compose: ${service}: port "${spec}" cannot be kept in a shared network namespace (expected N:N)`);
  return Number(match[1]);
}

export async function loadCompose(
  file: string,
  project: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<ComposeProject> {
  const folder = dirname(resolve(file));
  const document = deepInterpolate(parse(await readFile(file, 'utf8')), env) as Record<string, unknown>;
  for (const key of Object.keys(document))
    if (!TOP_KEYS.has(key)) throw new Error(`compose: top-level key "${key}" is not understood by this runner`);
  const namedVolumes = new Set(Object.keys((document.volumes as Record<string, unknown> | undefined) ?? {}));
  const services = Object.entries(document.services as Record<string, Record<string, unknown>>).map(([name, spec]): ComposeService => {
    for (const key of Object.keys(spec))
      if (!SERVICE_KEYS.has(key)) throw new Error(`compose: ${name}: key "${key}" is not understood by this runner`);
    const volumes = ((spec.volumes as string[] | undefined) ?? []).map((volume) => {
      const [source = '', ...rest] = volume.split(':');
      if (source.startsWith('.') || isAbsolute(source)) return [resolve(folder, source), ...rest].join(':');
      if (!namedVolumes.has(source)) throw new Error(`compose: ${name}: volume "${source}" is not declared under volumes:`);
      return [`${project}_${source}`, ...rest].join(':');
    });
    const build = spec.build as { context: string; args?: Record<string, string> } | undefined;
    return {
      name,
      image: String(spec.image),
      environment: environmentOf(spec.environment),
      volumes,
      ports: ((spec.ports as string[] | undefined) ?? []).map((port) => portOf(port, name)),
      dependsOn: (spec.depends_on as string[] | undefined) ?? [],
      command:
        spec.command === undefined ? undefined : Array.isArray(spec.command) ? spec.command.map(String) : commandWords(spec.command, name),
      build: build && { context: resolve(folder, build.context), args: build.args ?? {} },
    };
  });
  const ordered: ComposeService[] = [];
  const visit = (service: ComposeService, path: string[]) => {
    if (ordered.includes(service)) return;
    if (path.includes(service.name)) throw new Error(`compose: depends_on cycle ${[...path, service.name].join(' → ')}`);
    for (const dependency of service.dependsOn) {
      const found = services.find((candidate) => candidate.name === dependency);
      if (!found) throw new Error(`compose: ${service.name} depends on unknown service ${dependency}`);
      visit(found, [...path, service.name]);
    }
    ordered.push(service);
  };
  for (const service of services) visit(service, []);
  return { name: project, services: ordered };
}

/** `podman run` arguments that start `service` detached in the network namespace `netnsPath`. */
export function podmanRunArgs(project: ComposeProject, service: ComposeService, netnsPath: string): string[] {
  return [
    'run',
    '--detach',
    '--name',
    `${project.name}_${service.name}`,
    '--network',
    `ns:${netnsPath}`,
    ...project.services.flatMap((other) => ['--add-host', `${other.name}:127.0.0.1`]),
    ...Object.entries(service.environment).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    ...service.volumes.flatMap((volume) => ['--volume', volume]),
    service.image,
    ...(service.command ?? []),
  ];
}
