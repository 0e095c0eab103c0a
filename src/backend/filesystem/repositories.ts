/**
 * Repository names on disk, in the catalog's lexical order, read lazily: the walk stops as soon as
 * it has `limit` names and skips folders whose whole subtree sorts before `after`.
 *
 * A folder walk sorted per level is not lexical order for whole names (`a/b` would come before
 * `a-b`, though `-` < `/`). So each child folder `x` is visited twice in one sorted sequence: as
 * the name `x` itself and as the subtree `x/`, and every name under `x/` sorts between those keys.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { compareNames } from './paging.js';
import { REPOSITORY_MARKERS } from './layout.js';

interface Visit {
  readonly key: string;
  readonly kind: 'name' | 'subtree';
  readonly folder: string;
}

const MARKERS = new Set<string>(REPOSITORY_MARKERS);

export async function listRepositoryNames(repositoriesDir: string, after: string | undefined, limit: number): Promise<string[]> {
  const names: string[] = [];
  if (limit <= 0) return names;
  await walk(repositoriesDir, '', after, limit, names);
  return names;
}

/** Walks `folder` (holding the repositories under the name prefix `prefix`); false once full. */
async function walk(folder: string, prefix: string, after: string | undefined, limit: number, names: string[]): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch {
    return true;
  }
  const visits: Visit[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('_')) continue;
    const name = prefix + entry.name;
    const childFolder = join(folder, entry.name);
    visits.push({ key: name, kind: 'name', folder: childFolder }, { key: `${name}/`, kind: 'subtree', folder: childFolder });
  }
  visits.sort((a, b) => compareNames(a.key, b.key));
  for (const visit of visits) {
    if (visit.kind === 'name') {
      if (after !== undefined && visit.key <= after) continue;
      if (await isRepository(visit.folder)) {
        names.push(visit.key);
        if (names.length >= limit) return false;
      }
    } else {
      // Every name in the subtree starts with the key; all of them sort before `after` when `after`
      // is past the key without sharing it as a prefix.
      if (after !== undefined && after > visit.key && !after.startsWith(visit.key)) continue;
      if (!(await walk(visit.folder, visit.key, after, limit, names))) return false;
    }
  }
  return true;
}

async function isRepository(folder: string): Promise<boolean> {
  try {
    const entries = await readdir(folder, { withFileTypes: true });
    return entries.some((entry) => entry.isDirectory() && MARKERS.has(entry.name));
  } catch {
    return false;
  }
}
