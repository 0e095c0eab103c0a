/**
 * The content one UI page reads, within DISPLAY_LIMITS (src/lib/work-budget.ts). Whoever pushes
 * may make an index of hundreds of entries, each a 4 MiB manifest or another index, and tag it a
 * hundred times; a page view must not read all of that. So a page reads each manifest at most once
 * (a memo per reference, and per digest for the sizes it adds up), follows at most `children`
 * entries of an index and `depth` levels of indexes, and stops reading when the page has read its
 * manifests or bytes. What was not read is shown as unknown, and the page says so (`cutShort`).
 */
import type { ContentReader } from '../backend/backend.js';
import { DISPLAY_LIMITS, WorkBudget } from '../lib/work-budget.js';
import {
  configView,
  imageSize,
  manifestView,
  mapLimited,
  readableConfig,
  type ConfigView,
  type ManifestView,
  type TagRow,
} from './content.js';

/** A read the page's limits did not allow. */
export const NOT_READ = 'not-read';

const CREATED = 'org.opencontainers.image.created';

export class PageReads {
  readonly #budget = new WorkBudget(DISPLAY_LIMITS);
  readonly #views = new Map<string, Promise<ManifestView | undefined | typeof NOT_READ>>();
  readonly #sizes = new Map<string, Promise<number | undefined>>();
  #leftOut = false;

  constructor(
    private readonly reader: ContentReader,
    private readonly repository: string,
  ) {}

  /** Something the page would have shown was not read. */
  get cutShort(): boolean {
    return this.#budget.exceeded || this.#leftOut;
  }

  /** Entries the page does not read, whatever is left of its limits. */
  leftOut(): void {
    this.#leftOut = true;
  }

  /** The manifest a tag or digest names (undefined: there is none), read once per page. */
  manifest(reference: string): Promise<ManifestView | undefined | typeof NOT_READ> {
    let view = this.#views.get(reference);
    if (!view) {
      view = this.#read(reference);
      this.#views.set(reference, view);
    }
    return view;
  }

  async #read(reference: string): Promise<ManifestView | undefined | typeof NOT_READ> {
    if (!this.#budget.readManifest()) return NOT_READ;
    const content = await this.reader.readManifest(this.repository, reference);
    if (!content) return undefined;
    return this.#budget.parseBytes(content.bytes.length) ? manifestView(content) : NOT_READ;
  }

  /** The image config, when it is small enough and the page may still read it. */
  async config(view: ManifestView): Promise<ConfigView | undefined> {
    const config = readableConfig(view);
    if (!config || !this.#budget.readManifest() || !this.#budget.parseBytes(config.size)) return undefined;
    // No more than the descriptor says: that is what was counted.
    const bytes = await this.reader.readBlob(this.repository, config.digest, config.size).catch(() => undefined);
    return bytes && configView(bytes);
  }

  /**
   * What pulling `view` transfers: an image's manifest, config and layers; an index's manifest and
   * each entry's (`depth`: how many index levels `view` is below the page's own manifest). Undefined
   * when some entry was not read.
   */
  size(view: ManifestView, depth = 0): Promise<number | undefined> {
    if (view.kind !== 'index') return Promise.resolve(imageSize(view));
    let size = this.#sizes.get(view.digest);
    if (!size) {
      size = this.#indexSize(view, depth);
      this.#sizes.set(view.digest, size);
    }
    return size;
  }

  async #indexSize(view: ManifestView, depth: number): Promise<number | undefined> {
    const entries = view.manifests.slice(0, DISPLAY_LIMITS.children);
    if (entries.length < view.manifests.length || (entries.length > 0 && depth + 1 > DISPLAY_LIMITS.depth)) {
      this.leftOut();
      return undefined;
    }
    const sizes = await mapLimited(entries, (entry) => this.#entrySize(entry, depth + 1));
    let total = view.bytes;
    for (const size of sizes) {
      if (size === undefined) return undefined;
      total += size;
    }
    return total;
  }

  /** The size of one entry of an index `depth` levels below the page's manifest; a missing one counts as its descriptor says. */
  async #entrySize(entry: { readonly digest: string; readonly size: number }, depth: number): Promise<number | undefined> {
    const child = await this.manifest(entry.digest).catch(() => undefined);
    if (child === NOT_READ) return undefined;
    return child ? this.size(child, depth) : entry.size;
  }

  /** One row of a repository page. */
  async tagRow(tag: string): Promise<TagRow> {
    const view = await this.manifest(tag);
    if (view === undefined || view === NOT_READ) return { tag, platforms: [] };
    let created = view.annotations[CREATED];
    if (view.kind === 'image' && view.pushedAt === undefined && created === undefined) created = (await this.config(view))?.created;
    const when = view.pushedAt ?? (created && !Number.isNaN(Date.parse(created)) ? new Date(created) : undefined);
    return {
      tag,
      digest: view.digest,
      kind: view.kind,
      artifactType: view.artifactType,
      size: await this.size(view),
      when,
      whenSource: view.pushedAt ? 'pushed' : when ? 'created' : undefined,
      platforms: view.manifests.map((child) => child.platform).filter((platform): platform is string => platform !== undefined),
    };
  }
}
