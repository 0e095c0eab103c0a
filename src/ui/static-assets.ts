/**
 * The UI's stylesheet, script and icon: files in src/ui/static/ (shipped with the package, no CDN),
 * read once at start-up and served with a content hash in their URL, so a browser caches them for
 * good and never runs a stale copy.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { securityHeaders } from './respond.js';

const TYPES: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml' };
const NAMES = ['ui.css', 'ui.js', 'icon.svg'] as const;
export type AssetName = (typeof NAMES)[number];

/** src/ui/static/, from this module in src/ui/ or in dist/src/ui/. */
function staticDir(): URL {
  const here = new URL('.', import.meta.url);
  return fileURLToPath(here).includes('/dist/src/ui/') ? new URL('../../../src/ui/static/', here) : new URL('./static/', here);
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly version: string;
}

export class StaticAssets {
  readonly #assets: ReadonlyMap<string, Asset>;

  private constructor(assets: Map<string, Asset>) {
    this.#assets = assets;
  }

  static async load(): Promise<StaticAssets> {
    const dir = staticDir();
    const assets = new Map<string, Asset>();
    for (const name of NAMES) {
      const body = await readFile(new URL(name, dir));
      const version = createHash('sha256').update(body).digest('hex').slice(0, 16);
      assets.set(name, { body, type: TYPES[name.slice(name.lastIndexOf('.') + 1)] as string, version });
    }
    return new StaticAssets(assets);
  }

  /** The URL a page links to: versioned by content. */
  url(name: AssetName): string {
    return `/ui/static/${name}?v=${this.#assets.get(name)?.version ?? ''}`;
  }

  /** Answers a request for an asset; false when there is no such asset. */
  serve(res: ServerResponse, method: string, name: string, query: URLSearchParams): boolean {
    const asset = this.#assets.get(name);
    if (!asset) return false;
    res.statusCode = 200;
    securityHeaders(res);
    res.setHeader('Content-Type', asset.type);
    res.setHeader('Content-Length', asset.body.length);
    res.setHeader('Cache-Control', query.get('v') === asset.version ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.setHeader('ETag', `"${asset.version}"`);
    res.end(method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}
