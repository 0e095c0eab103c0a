/** The login form: user name and password, checked by the same identity stage as /v2/. */
import { html, type Html } from '../html.js';
import { csrfField, layout, notice, type Frame } from './layout.js';

export function loginPage(frame: Frame, options: { user?: string; error?: string } = {}): Html {
  const body = html`<h1>Log in</h1>
${options.error ? notice('error', options.error) : ''}
<form method="post" action="/ui/login" class="stack login">
${csrfField(frame)}
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" required maxlength="256" value="${options.user ?? ''}" autocapitalize="none" spellcheck="false" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="4096">
<button type="submit">Log in</button>
</form>
<p class="muted">The same accounts as <code>docker login</code>: your user, or a robot account (<code>robot$name</code> with its secret).</p>`;
  return layout(frame, 'Log in', [], body);
}
