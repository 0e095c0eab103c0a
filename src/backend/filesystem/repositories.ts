/**
 * Repository names on disk, in the catalog's lexical order, read lazily: the walk stops as soon as
 * it has `limit` names and skips folders whose whole subtree sorts before `after`.
 *
 * A folder walk sorted per level is not lexical order for whole names (`a/b` would come before
 * `a-b`, though `-` < `/`). So each child folder `x` is visited twice in one sorted sequence: as
 * the name `x` itself and as the subtree `x/`, and every name under `x/` sorts between those keys.
 *
 * The catalog walks with the caller's filter (`scanRepositoryNames`): a name the caller may not see
 * is never read (telling a repository from a mere folder costs a directory read), and a subtree no
 * name of which the caller could see is skipped unread. Each visit the filter lets through costs one
 * unit of the request's budget (at most twice that is spent, see `#spent`); when the budget is spent,
 * the walk says where it stopped.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RepositoryFilter, RepositoryScan, ScanLimits } from '../backend.js';
import { compareNames } from './paging.js';
import { REPOSITORY_MARKERS } from './layout.js';

interface Visit {
  readonly key: string;
  readonly kind: 'name' | 'subtree';
  readonly folder: string;
}

const MARKERS = new Set<string>(REPOSITORY_MARKERS);
const EVERYTHING: RepositoryFilter = { shows: () => true, mayShowUnder: () => true };
/** Sorts after every character a repository name may hold: `x/` + PAST is past every name under `x/`. */
const PAST = '\x7f';

export async function listRepositoryNames(repositoriesDir: string, after: string | undefined, limit: number): Promise<string[]> {
  return (await scanRepositoryNames(repositoriesDir, after, EVERYTHING, { names: limit, budget: Number.POSITIVE_INFINITY })).names;
}

/** The names `filter` shows, strictly after `after`, at most `limits.names`, within `limits.budget` visits. */
export async function scanRepositoryNames(
  repositoriesDir: string,
  after: string | undefined,
  filter: RepositoryFilter,
  limits: ScanLimits,
): Promise<RepositoryScan> {
  const walk = new Walk(after, filter, limits);
  if (limits.names > 0) await walk.folder(repositoriesDir, '');
  return { names: walk.names, stoppedAt: walk.stoppedAt };
}

class Walk {
  readonly names: string[] = [];
  stoppedAt: string | undefined;
  #budget: number;
  /** Every name up to this key was looked at. */
  #lastKey: string | undefined;
  #lastRead: { readonly folder: string; readonly entries: Dirent[] } | undefined;

  constructor(
    private readonly after: string | undefined,
    private readonly filter: RepositoryFilter,
    private readonly limits: ScanLimits,
  ) {
    this.#budget = limits.budget;
    this.#lastKey = after;
  }

  /** A folder's entries (none if it cannot be read); the last one read is kept, as a name's subtree often follows it. */
  async #read(folder: string): Promise<Dirent[]> {
    if (this.#lastRead?.folder === folder) return this.#lastRead.entries;
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    this.#lastRead = { folder, entries };
    return entries;
  }

  /** The visits of `folder` (the repositories under the name prefix `prefix`) the filter and `after` leave, in order. */
  async #visits(folder: string, prefix: string): Promise<Visit[]> {
    const entries = await this.#read(folder);
    const { after, filter } = this;
    const visits: Visit[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('_')) continue;
      const name = prefix + entry.name;
      const subtree = `${name}/`;
      const childFolder = join(folder, entry.name);
      if ((after === undefined || name > after) && filter.shows(name)) visits.push({ key: name, kind: 'name', folder: childFolder });
      // Every name under the subtree sorts between its key and key + PAST.
      if ((after === undefined || after < subtree + PAST) && filter.mayShowUnder(subtree))
        visits.push({ key: subtree, kind: 'subtree', folder: childFolder });
    }
    return visits.sort((a, b) => compareNames(a.key, b.key));
  }

  /**
   * The budget is spent: past it, the walk goes on to end the page just after a name it shows (so
   * the next page's cursor is that name, not a token), but for no more than the budget again.
   */
  #spent(): boolean {
    if (this.#budget > 0) return false;
    return this.#lastKey === this.names.at(-1) || this.#budget <= -this.limits.budget;
  }

  /** Walks `folder`; false once the page is full or the budget spent. */
  async folder(folder: string, prefix: string): Promise<boolean> {
    for (const visit of await this.#visits(folder, prefix)) {
      // Going back into the subtree the previous page stopped in is free: each page makes progress.
      const resuming = visit.kind === 'subtree' && this.after?.startsWith(visit.key) === true;
      if (!resuming) {
        if (this.#spent()) {
          this.stoppedAt = this.#lastKey;
          return false;
        }
        this.#budget -= 1;
      }
      if (visit.kind === 'name') {
        this.#lastKey = visit.key;
        if ((await this.#read(visit.folder)).some((entry) => entry.isDirectory() && MARKERS.has(entry.name))) {
          this.names.push(visit.key);
          if (this.names.length >= this.limits.names) return false;
        }
      } else {
        if (!(await this.folder(visit.folder, visit.key))) return false;
        this.#lastKey = visit.key + PAST;
      }
    }
    return true;
  }
}
