/** The login form (user name and password, checked by the same identity stage as /v2/) and the single sign-on button. */
import { html, type Html } from '../html.js';
import { csrfField, layout, notice, type Frame } from './layout.js';

export interface LoginOptions {
  readonly user?: string;
  readonly error?: string;
  /** "Sign in with NAME", when auth.oidc is configured. */
  readonly oidc?: { readonly name: string; readonly href: string } | undefined;
  /** Whether the user name and password form is offered (auth.oidc.passwordLogin). */
  readonly passwordForm?: boolean;
}

export function loginPage(frame: Frame, options: LoginOptions = {}): Html {
  const button = options.oidc
    ? html`<p class="signin"><a class="button" href="${options.oidc.href}">Sign in with ${options.oidc.name}</a></p>`
    : '';
  const form =
    options.passwordForm === false
      ? ''
      : html`${options.oidc ? html`<h2>Or with a password</h2>` : ''}<form method="post" action="/ui/login" class="stack login">
${csrfField(frame)}
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" required maxlength="256" value="${options.user ?? ''}" autocapitalize="none" spellcheck="false"${options.oidc ? '' : html` autofocus`}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="4096">
<button type="submit">Log in</button>
</form>
<p class="muted">The same accounts as <code>docker login</code>: your user, or a robot account (<code>robot$name</code> with its secret).</p>`;
  const body = html`<h1>Log in</h1>
${options.error ? notice('error', options.error) : ''}
${button}
${form}`;
  return layout(frame, 'Log in', [], body);
}
