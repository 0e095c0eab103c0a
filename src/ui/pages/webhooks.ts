/** Each webhook's last tries and dead letters, for members of ui.adminGroup. */
import type { WebhookStatus } from '../../events/index.js';
import { html, type Html } from '../html.js';
import { layout, notice, table, type Frame } from './layout.js';

function webhookSection(status: WebhookStatus): Html {
  const rows = status.recent.map(
    (entry) => html`<tr><td data-label="Time">${entry.time.replace('T', ' ').slice(0, 19)}</td>
<td data-label="Event"><code>${entry.eventId}</code></td>
<td data-label="Action">${entry.action}</td>
<td data-label="Repository">${entry.repository === '' ? '—' : html`<code>${entry.repository}</code>`}</td>
<td data-label="Try">${String(entry.attempt)}</td>
<td data-label="Result" class="${entry.ok ? 'ok' : 'failed'}">${entry.ok ? 'delivered' : 'failed'}: ${entry.result}</td></tr>`,
  );
  const summary = `${status.delivered} delivered, ${status.failed} failed tries since the start, ${status.deadLetters} dead letter(s)`;
  return html`<section aria-labelledby="${`webhook-${status.name}`}"><h2 id="${`webhook-${status.name}`}">${status.name}</h2>
<p>${summary}${status.deadLetters > 0 ? html` — <code>registry-gate events</code> lists them, <code>registry-gate events replay</code> sends them again` : ''}.</p>
${rows.length ? table(`The last tries of ${status.name}, newest first`, ['Time', 'Event', 'Action', 'Repository', 'Try', 'Result'], rows, 'webhooks') : notice('info', 'Nothing tried since the start.')}
</section>`;
}

export function webhooksPage(frame: Frame, statuses: readonly WebhookStatus[]): Html {
  const body = html`<h1>Webhooks</h1>
${statuses.map(webhookSection)}`;
  return layout(frame, 'Webhooks', [{ label: 'Repositories', href: '/ui/' }, { label: 'Webhooks' }], body);
}
