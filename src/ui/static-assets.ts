/**
 * The UI's stylesheet, script and icon, all shipped inside dist/src/ (no CDN, no file outside the
 * compiled code): the stylesheet and icon from ./stylesheet.ts, the script compiled by tsc from
 * ./client/ui.ts. Loaded once at start-up and served with a content hash in their URL, so a browser
 * caches them for good and never runs a stale copy.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { securityHeaders } from './respond.js';
import { ICON_SVG, STYLESHEET } from './stylesheet.js';

export type AssetName = 'ui.css' | 'ui.js' | 'icon.svg';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly version: string;
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, version: createHash('sha256').update(body).digest('hex').slice(0, 16) };
}

export class StaticAssets {
  readonly #assets: ReadonlyMap<string, Asset>;

  private constructor(assets: Map<string, Asset>) {
    this.#assets = assets;
  }

  static async load(): Promise<StaticAssets> {
    // The compiled client, without its source-map comment (the map is not served).
    const script = (await readFile(new URL('./client/ui.js', import.meta.url), 'utf8')).replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
    return new StaticAssets(
      new Map([
        ['ui.css', asset(Buffer.from(STYLESHEET), 'text/css; charset=utf-8')],
        ['ui.js', asset(Buffer.from(script), 'text/javascript; charset=utf-8')],
        ['icon.svg', asset(Buffer.from(ICON_SVG), 'image/svg+xml')],
      ]),
    );
  }

  /** The URL a page links to: versioned by content. */
  url(name: AssetName): string {
    return `/ui/static/${name}?v=${this.#assets.get(name)?.version ?? ''}`;
  }

  /** Answers a request for an asset; false when there is no such asset. */
  serve(res: ServerResponse, method: string, name: string, query: URLSearchParams): boolean {
    const found = this.#assets.get(name);
    if (!found) return false;
    res.statusCode = 200;
    securityHeaders(res);
    res.setHeader('Content-Type', found.type);
    res.setHeader('Content-Length', found.body.length);
    res.setHeader('Cache-Control', query.get('v') === found.version ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.setHeader('ETag', `"${found.version}"`);
    res.end(method === 'HEAD' ? undefined : found.body);
    return true;
  }
}
