/**
 * A cookie-keeping HTTP client for the web UI, for tests that assert on exact statuses, headers and
 * bodies (the browser tests drive the real pages). It remembers cookies as a browser would (by
 * name, dropped on Max-Age=0), reads a page's CSRF token from its forms, and posts forms.
 */
import { request, type Dispatcher } from 'undici';

export interface UiReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Every Set-Cookie line of the reply. */
  setCookies: string[];
  body: string;
}

export class UiClient {
  readonly cookies = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    readonly dispatcher?: Dispatcher,
    /** Extra headers on every request (an SSO proxy's, X-Forwarded-Proto, …). */
    readonly headers: Record<string, string> = {},
  ) {}

  #cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {};
  }

  #remember(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*Max-Age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async call(
    method: Dispatcher.HttpMethod,
    path: string,
    options: { body?: string; headers?: Record<string, string> } = {},
  ): Promise<UiReply> {
    const response = await request(new URL(path, this.baseUrl), {
      method,
      headers: { ...this.headers, ...this.#cookieHeader(), ...(options.headers ?? {}) },
      ...(options.body !== undefined ? { body: options.body } : {}),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    const raw = response.headers['set-cookie'];
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    this.#remember(setCookies);
    return { status: response.statusCode, headers: response.headers, setCookies, body: await response.body.text() };
  }

  get(path: string, headers?: Record<string, string>): Promise<UiReply> {
    return this.call('GET', path, { headers: headers ?? {} });
  }

  /** Posts a form; `csrf: true` first GETs `tokenFrom` (default the home page) and adds its token. */
  async post(
    path: string,
    fields: Record<string, string>,
    options: { csrf?: boolean; tokenFrom?: string; headers?: Record<string, string> } = {},
  ): Promise<UiReply> {
    const form = new URLSearchParams(fields);
    if (options.csrf !== false) form.set('csrf', await this.csrfToken(options.tokenFrom ?? '/ui/'));
    return this.call('POST', path, {
      body: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(options.headers ?? {}) },
    });
  }

  async csrfToken(page: string): Promise<string> {
    const reply = await this.get(page);
    const token = /name="csrf" value="([^"]+)"/.exec(reply.body)?.[1];
    if (!token) throw new Error(`no CSRF token on ${page} (${reply.status})`);
    return token;
  }

  /** Logs in through the form; returns the reply to the POST. */
  logIn(user: string, password: string): Promise<UiReply> {
    return this.post('/ui/login', { user, password }, { tokenFrom: '/ui/login' });
  }
}

/** The repository names a repository-list page links to. */
export function listedRepositories(body: string): string[] {
  return [...body.matchAll(/<li><a href="\/ui\/r\/([^"]+)">/g)].map((match) => match[1] as string);
}
