/** Robot accounts, for members of ui.adminGroup: list, create (the secret shown once), revoke. */
import type { RobotRecord } from '../../auth/token/robots.js';
import { html, type Html } from '../html.js';
import { copyButton, csrfField, layout, notice, table, type Frame } from './layout.js';

export interface RobotsView {
  readonly robots: ReadonlyArray<Omit<RobotRecord, 'hash'>>;
  readonly message?: Html | undefined;
  /** Just created: its name and secret, shown on this response only. */
  readonly created?: { readonly name: string; readonly secret: string } | undefined;
  /** The create form's values after a refused create. */
  readonly form?: { readonly name: string; readonly scopes: string } | undefined;
}

export const EXPIRY_CHOICES: ReadonlyArray<readonly [string, number | null]> = [
  ['7 days', 7],
  ['30 days', 30],
  ['90 days', 90],
  ['1 year', 365],
  ['never', null],
];

function state(robot: Omit<RobotRecord, 'hash'>, now: number): string {
  if (robot.expires === null) return 'never expires';
  return Date.parse(robot.expires) <= now ? `expired ${robot.expires.slice(0, 10)}` : `expires ${robot.expires.slice(0, 10)}`;
}

function createdNotice(frame: Frame, created: { name: string; secret: string }): Html {
  const login = `docker login ${frame.registryHost} -u '${created.name}' --password-stdin`;
  return html`<section class="secret" aria-labelledby="secret-title">
<h2 id="secret-title">Created ${created.name}</h2>
<p>Its secret is shown this once; registry-gate keeps only a hash of it. Store it now.</p>
<p class="secret-line"><code id="robot-secret">${created.secret}</code>${copyButton(created.secret, `Copy the secret of ${created.name}`)}</p>
<p>Log in with <code>${login}</code> and the secret on standard input.</p>
</section>`;
}

export function robotsPage(frame: Frame, view: RobotsView): Html {
  const now = Date.now();
  const rows = view.robots.map(
    (robot) => html`<tr><th scope="row">${robot.name}</th>
<td data-label="Scopes">${robot.scopes.map((scope) => html`<code>${scope}</code> `)}</td>
<td data-label="Created">${robot.created.slice(0, 10)}</td>
<td data-label="Expiry">${state(robot, now)}</td>
<td data-label="Actions" class="actions"><form method="post" action="/ui/robots/revoke" class="inline" data-confirm="${`Revoke ${robot.name}? Whatever uses it stops working.`}">
${csrfField(frame)}<input type="hidden" name="name" value="${robot.name}"><button type="submit" class="danger" aria-label="${`Revoke ${robot.name}`}">Revoke</button></form></td></tr>`,
  );
  const body = html`<h1>Robot accounts</h1>
${view.message ?? ''}
${view.created ? createdNotice(frame, view.created) : ''}
${rows.length ? table('Robot accounts', ['Name', 'Scopes', 'Created', 'Expiry', 'Actions'], rows, 'robots') : notice('info', 'There are no robot accounts.')}
<section aria-labelledby="create"><h2 id="create">Create a robot account</h2>
<form method="post" action="/ui/robots" class="stack">
${csrfField(frame)}
<label for="robot-name">Name</label>
<div class="prefixed"><span aria-hidden="true">robot$</span><input id="robot-name" name="name" required maxlength="64" pattern="[a-z0-9]+([._\\-][a-z0-9]+)*" value="${view.form?.name ?? ''}" aria-describedby="robot-name-help" autocapitalize="none" spellcheck="false"></div>
<p id="robot-name-help" class="muted">Lower-case letters and digits, separated by . _ or -; it logs in as <code>robot$name</code>.</p>
<label for="robot-scopes">Scopes, one per line</label>
<textarea id="robot-scopes" name="scopes" rows="3" required aria-describedby="robot-scopes-help" spellcheck="false">${view.form?.scopes ?? ''}</textarea>
<p id="robot-scopes-help" class="muted">For example <code>repository:team-a/*:pull,push</code> or <code>registry:catalog:*</code>. The access rules still apply.</p>
<label for="robot-expires">Expires after</label>
<select id="robot-expires" name="expires">${EXPIRY_CHOICES.map(([label, days]) => html`<option value="${days === null ? 'never' : String(days)}"${days === 90 ? html` selected` : ''}>${label}</option>`)}</select>
<button type="submit">Create</button>
</form></section>`;
  return layout(frame, 'Robot accounts', [{ label: 'Repositories', href: '/ui/' }, { label: 'Robot accounts' }], body);
}
