/**
 * Robot accounts in the UI, for members of `ui.adminGroup` only (anyone else gets the same 404 as
 * for a page that does not exist): list, create with the secret shown once on the response (never
 * in a URL, never stored in the browser), revoke. The store is the one `registry-gate token` edits;
 * the running server re-reads it at once, and a revocation is published to every replica as the
 * command publishes it (refused there even where the replica's copy of the store is behind). Every create and revoke, and every refused attempt, is
 * audited with `"source":"ui"`.
 */
import { createRobot, readRobots, removeRobot, robotUserName } from '../auth/token/robots.js';
import type { UiRequest } from './context.js';
import { html } from './html.js';
import { notice } from './pages/layout.js';
import { messagePage } from './pages/message.js';
import { EXPIRY_CHOICES, robotsPage, type RobotsView } from './pages/robots.js';
import { InternalError } from '../lib/internal-errors.js';

const DAY_MS = 86_400_000;

async function listRobots(request: UiRequest): Promise<RobotsView['robots']> {
  return (await readRobots(request.services.options.robots.file)).map(({ hash, ...robot }) => robot); // the secret's hash never leaves the server
}

/** False (after answering) when the caller is not an admin. */
function admitted(request: UiRequest, action: string | undefined): boolean {
  if (request.services.decisions.isAdmin(request.identity)) return true;
  if (action) request.audit({ method: 'POST', action, repository: '', decision: 'deny', rule: -1, status: 404, reason: 'not-admin' });
  request.page(404, messagePage(request.frame, 'Not found', 'No such page, or you may not see it.'));
  return false;
}

export async function showRobots(request: UiRequest): Promise<void> {
  if (!admitted(request, undefined)) return;
  const revoked = request.query.get('revoked');
  const message = revoked ? notice('ok', html`Revoked <code>${revoked}</code>.`) : undefined;
  request.page(200, robotsPage(request.frame, { robots: await listRobots(request), message }));
}

export async function createRobotAccount(request: UiRequest): Promise<void> {
  if (!admitted(request, 'robot-create')) return;
  const { form, services } = request;
  const name = (form.get('name') ?? '').trim();
  const scopesText = (form.get('scopes') ?? '').slice(0, 4096);
  const scopes = scopesText
    .split(/[\r\n]+/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const choice = form.get('expires') ?? '90';
  const days = EXPIRY_CHOICES.find(([, value]) => String(value ?? 'never') === choice)?.[1];
  const file = services.options.robots.file;
  let created;
  try {
    if (days === undefined && choice !== 'never') throw new InternalError('RG_ERR_ROBOT_INVALID', 'choose one of the offered expiries');
    const expires = days === undefined || days === null ? null : new Date(Date.now() + days * DAY_MS);
    created = await services.options.lock.run(`ui-robots:${file}`, () => createRobot(file, { name, scopes, expires }));
  } catch (error) {
    // The store's own messages name the problem with the input (never a secret).
    const problem = error instanceof Error ? error.message : 'the robot could not be created';
    request.page(
      400,
      robotsPage(request.frame, {
        robots: await listRobots(request),
        message: notice('error', problem),
        form: { name, scopes: scopesText },
      }),
    );
    return;
  }
  await services.options.robots.reload();
  request.audit({
    method: 'POST',
    action: 'robot-create',
    repository: '',
    decision: 'allow',
    rule: -1,
    status: 201,
    robot: created.robot.name,
  });
  request.page(
    201,
    robotsPage(request.frame, { robots: await listRobots(request), created: { name: created.robot.name, secret: created.secret } }),
  );
}

export async function revokeRobotAccount(request: UiRequest): Promise<void> {
  if (!admitted(request, 'robot-revoke')) return;
  const { services } = request;
  const name = robotUserName(request.form.get('name') ?? '');
  const file = services.options.robots.file;
  const removed = name === undefined ? undefined : await services.options.lock.run(`ui-robots:${file}`, () => removeRobot(file, name));
  if (!removed) {
    request.page(
      404,
      robotsPage(request.frame, { robots: await listRobots(request), message: notice('error', 'There is no such robot account.') }),
    );
    return;
  }
  await Promise.all([services.options.robots.reload(), services.options.robots.revoked(removed)]);
  request.audit({ method: 'POST', action: 'robot-revoke', repository: '', decision: 'allow', rule: -1, status: 200, robot: removed.name });
  request.redirect(`/ui/robots?revoked=${encodeURIComponent(removed.name)}`);
}
