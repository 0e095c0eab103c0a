/** A page that only says something: not found, refused, unavailable. */
import { html, type Html } from '../html.js';
import { layout, notice, type Frame } from './layout.js';

export function messagePage(frame: Frame, title: string, message: string | Html, kind: 'error' | 'info' = 'error'): Html {
  const hint = frame.identity.user === null ? html`<p><a href="/ui/login">Log in</a> to see more.</p>` : '';
  return layout(
    frame,
    title,
    [{ label: 'Repositories', href: '/ui/' }, { label: title }],
    html`<h1>${title}</h1>${notice(kind, message)}${hint}<p><a href="/ui/">All repositories</a></p>`,
  );
}
