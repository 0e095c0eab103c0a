/**
 * The webhooks page (events.webhooks), for members of `ui.adminGroup` only: each webhook's last
 * tries (kept in memory, since the start) and how many dead letters it has. Anyone else, or a
 * server without webhooks, gets the same 404 as for a page that does not exist.
 */
import type { UiRequest } from './context.js';
import { messagePage } from './pages/message.js';
import { webhooksPage } from './pages/webhooks.js';

export function showWebhooks(request: UiRequest): void {
  const statuses = request.services.options.webhooks;
  if (!statuses || !request.services.decisions.isAdmin(request.identity)) {
    request.page(404, messagePage(request.frame, 'Not found', 'No such page, or you may not see it.'));
    return;
  }
  request.page(200, webhooksPage(request.frame, statuses()));
}
