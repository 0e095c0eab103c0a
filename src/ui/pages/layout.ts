/** The frame of every UI page (header, account, breadcrumbs, main) and the small pieces pages share. */
import type { Identity } from '../../auth/identity.js';
import { html, type Html } from '../html.js';
import type { StaticAssets } from '../static-assets.js';

export interface Frame {
  readonly identity: Identity;
  /** The CSRF token for this page's forms. */
  readonly csrf: string;
  readonly isAdmin: boolean;
  /** Webhooks are configured: admins get a link to their page. */
  readonly hasWebhooks?: boolean | undefined;
  readonly assets: StaticAssets;
  /** `registry.example.com:5043`, as the browser reached this server: for pull commands. */
  readonly registryHost: string;
}

export interface Crumb {
  readonly label: string;
  readonly href?: string;
}

export function csrfField(frame: Frame): Html {
  return html`<input type="hidden" name="csrf" value="${frame.csrf}">`;
}

function account(frame: Frame): Html {
  const { identity } = frame;
  if (identity.user === null) return html`<a class="button" href="/ui/login">Log in</a>`;
  const logout =
    identity.via === 'header'
      ? html``
      : html`<form method="post" action="/ui/logout" class="inline">${csrfField(frame)}<button type="submit" class="link">Log out</button></form>`;
  const tokens = identity.via === 'htpasswd' || identity.via === 'ldap' || identity.via === 'oidc';
  return html`${frame.isAdmin ? html`<a href="/ui/robots">Robot accounts</a>` : ''}${frame.isAdmin && frame.hasWebhooks ? html`<a href="/ui/webhooks">Webhooks</a>` : ''}${tokens ? html`<a href="/ui/tokens">Access tokens</a>` : ''}
    <span class="who">Signed in as <strong>${identity.user}</strong></span>${logout}`;
}

/** `head`: more of the page's head (a page that moves on by itself: `<meta http-equiv="refresh">`). */
export function layout(frame: Frame, title: string, crumbs: readonly Crumb[], body: Html, head: Html = html``): Html {
  const trail = crumbs.length
    ? html`<nav aria-label="Breadcrumb" class="crumbs"><ol>${crumbs.map((crumb, index) =>
        crumb.href && index < crumbs.length - 1
          ? html`<li><a href="${crumb.href}">${crumb.label}</a></li>`
          : html`<li><span aria-current="page">${crumb.label}</span></li>`,
      )}</ol></nav>`
    : '';
  return html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · registry-gate</title>
<link rel="icon" href="${frame.assets.url('icon.svg')}" type="image/svg+xml">
<link rel="stylesheet" href="${frame.assets.url('ui.css')}">
<script type="module" src="${frame.assets.url('ui.js')}"></script>
${head}</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/ui/">registry-gate</a>
<nav class="account" aria-label="Account">${account(frame)}</nav>
</header>
<main id="main" tabindex="-1">
${trail}
${body}
</main>
<p class="sr-only" role="status" aria-live="polite" id="announce"></p>
</body>
</html>`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function time(date: Date | undefined, title?: string): Html {
  if (!date || Number.isNaN(date.getTime())) return html`—`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}"${title ? html` title="${title}"` : ''}>${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/** `sha256:0123456789ab`: enough of a digest to tell it apart on a page. */
export function abbreviate(digest: string): string {
  const [algorithm, hex = ''] = digest.split(':');
  return `${algorithm}:${hex.slice(0, 12)}`;
}

export function shortDigest(digest: string): Html {
  return html`<code class="digest" title="${digest}">${abbreviate(digest)}</code>`;
}

/** A button that copies `text` (ui.js); its label names what it copies, for screen readers too. */
export function copyButton(text: string, label: string): Html {
  return html`<button type="button" class="copy" data-copy="${text}" aria-label="${label}">Copy</button>`;
}

/** The pull commands for one tag or digest, each with its copy button. */
export function pullCommands(host: string, repository: string, reference: string): Html {
  const byDigest = reference.includes(':');
  const image = `${host}/${repository}${byDigest ? '@' : ':'}${reference}`;
  const local = repository.slice(repository.lastIndexOf('/') + 1);
  const lines: Array<[string, string]> = [
    ['docker', `docker pull ${image}`],
    ['podman', `podman pull ${image}`],
    ['skopeo', `skopeo copy docker://${image} oci:${local}${byDigest ? '' : `:${reference}`}`],
  ];
  return html`<ul class="commands">${lines.map(
    ([tool, line]) => html`<li><code>${line}</code>${copyButton(line, `Copy the ${tool} command`)}</li>`,
  )}</ul>`;
}

export function table(caption: string, headings: readonly string[], rows: readonly Html[], className = ''): Html {
  return html`<div class="table-wrap"><table class="${className}"><caption>${caption}</caption>
<thead><tr>${headings.map((heading) => html`<th scope="col">${heading}</th>`)}</tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

export function keyValues(caption: string, entries: ReadonlyArray<readonly [string, string | Html]>): Html {
  if (entries.length === 0) return html``;
  return html`<dl class="pairs" aria-label="${caption}">${entries.map(([key, value]) => html`<div><dt>${key}</dt><dd>${value}</dd></div>`)}</dl>`;
}

export function notice(kind: 'error' | 'ok' | 'info', message: string | Html): Html {
  return html`<p class="notice ${kind}" ${kind === 'error' ? html`role="alert"` : html`role="status"`}>${message}</p>`;
}

/** Said on a page whose limits (src/lib/work-budget.ts DISPLAY_LIMITS) kept it from reading everything it would show. */
export function notExpandedNotice(): Html {
  return notice(
    'info',
    'Some sizes are not shown: one page reads a limited number of manifests, index entries and levels of nested indexes, and the rest was not expanded.',
  );
}
