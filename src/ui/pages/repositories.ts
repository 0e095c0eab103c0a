/** The home page: the repositories the caller may pull, searched and paged on the server. */
import { html, type Html } from '../html.js';
import { repositoryPath } from '../paths.js';
import { layout, notice, type Frame } from './layout.js';

export interface RepositoryListing {
  readonly query: string;
  readonly repositories: readonly string[];
  /** A mirror's repository the search names exactly, with the registry it mirrors. */
  readonly mirrored?: readonly { readonly name: string; readonly origin: string }[];
  /** The cursor of the next page, when there is one. */
  readonly next: string | undefined;
  readonly after: string | undefined;
  /** False when the caller may pull nothing at all. */
  readonly mayList: boolean;
}

function pageLink(query: string, after: string | undefined): string {
  const params = new URLSearchParams();
  if (query) params.set('q', query);
  if (after) params.set('after', after);
  const text = params.toString();
  return text ? `/ui/?${text}` : '/ui/';
}

export function repositoriesPage(frame: Frame, listing: RepositoryListing): Html {
  const { query, repositories } = listing;
  const anonymous = frame.identity.user === null;
  let content: Html;
  if (!listing.mayList) {
    content = notice(
      'info',
      anonymous
        ? html`Nothing here is public. <a href="/ui/login">Log in</a> to see your repositories.`
        : 'You may not pull from any repository.',
    );
  } else if (listing.mirrored?.length) {
    content = html`<ul class="repositories">${listing.mirrored.map(
      (entry) =>
        html`<li><a href="${repositoryPath(entry.name)}">${entry.name}</a> <small>mirror of <code>${entry.origin}</code></small></li>`,
    )}${repositories.map((name) => html`<li><a href="${repositoryPath(name)}">${name}</a></li>`)}</ul>`;
  } else if (repositories.length === 0) {
    content = notice('info', query ? html`No repository you may pull matches “${query}”.` : 'There are no repositories you may pull yet.');
  } else {
    content = html`<ul class="repositories">${repositories.map((name) => html`<li><a href="${repositoryPath(name)}">${name}</a></li>`)}</ul>`;
  }
  const paging =
    listing.after || listing.next
      ? html`<nav class="paging" aria-label="Pages">${listing.after ? html`<a href="${pageLink(query, undefined)}">First page</a>` : ''}${
          listing.next ? html`<a href="${pageLink(query, listing.next)}" rel="next">Next page</a>` : ''
        }</nav>`
      : '';
  const body = html`<h1>Repositories</h1>
<form class="search" role="search" method="get" action="/ui/">
<label for="q">Search repositories</label>
<div class="row"><input id="q" name="q" type="search" value="${query}" maxlength="255" autocomplete="off" spellcheck="false"><button type="submit">Search</button></div>
</form>
${anonymous && listing.mayList ? notice('info', html`You see what anyone may pull. <a href="/ui/login">Log in</a> to see more.`) : ''}
${content}
${paging}`;
  return layout(frame, 'Repositories', [], body);
}
