/** One repository: its tags with digest, size, push time and platforms, pull commands, deletes. */
import { html, type Html } from '../html.js';
import { deletePath, manifestPath, repositoryPath } from '../paths.js';
import type { TagRow } from '../content.js';
import { copyButton, csrfField, formatBytes, layout, notExpandedNotice, notice, shortDigest, table, time, type Frame } from './layout.js';

export interface RepositoryView {
  readonly repository: string;
  readonly rows: readonly TagRow[];
  readonly after: string | undefined;
  readonly next: string | undefined;
  readonly mayDelete: boolean;
  /** The registry this repository is a read-only mirror of, when it is one. */
  readonly mirrorOf?: string | undefined;
  /** What was just done or refused, shown above the tags. */
  readonly message?: Html | undefined;
  /** The page's limits kept it from reading every tag's size. */
  readonly cutShort: boolean;
}

/** The mark of a mirror's repository: where its content comes from, and that nothing here changes it. */
export function mirrorNotice(origin: string | undefined): Html | string {
  return origin === undefined
    ? ''
    : notice('info', html`Mirror of <code>${origin}</code>: read-only, pulled through this registry’s cache.`);
}

export function deleteForm(frame: Frame, repository: string, reference: string, label: string): Html {
  return html`<form method="post" action="${deletePath(repository)}" class="inline" data-confirm="${`Delete ${label}? This cannot be undone.`}">
${csrfField(frame)}<input type="hidden" name="reference" value="${reference}">
<button type="submit" class="danger" aria-label="${`Delete ${label}`}">Delete</button></form>`;
}

function kindText(row: TagRow): string {
  if (row.kind === 'index') return row.platforms.length ? row.platforms.join(', ') : 'index';
  if (row.artifactType) return row.artifactType;
  return row.kind === 'image' ? 'image' : '—';
}

function tagRowHtml(frame: Frame, repository: string, row: TagRow, mayDelete: boolean): Html {
  const pull = `docker pull ${frame.registryHost}/${repository}:${row.tag}`;
  const when =
    row.whenSource === 'created' ? time(row.when, 'the image’s creation date (this registry does not record push times)') : time(row.when);
  return html`<tr>
<th scope="row"><a href="${manifestPath(repository, row.tag)}">${row.tag}</a></th>
<td data-label="Digest">${row.digest ? shortDigest(row.digest) : '—'}</td>
<td data-label="Size">${formatBytes(row.size)}</td>
<td data-label="${row.whenSource === 'created' ? 'Created' : 'Pushed'}">${when}</td>
<td data-label="Kind">${kindText(row)}</td>
<td data-label="Actions" class="actions">${copyButton(pull, `Copy docker pull for ${row.tag}`)}${mayDelete ? deleteForm(frame, repository, row.tag, `the tag ${row.tag}`) : ''}</td>
</tr>`;
}

export function repositoryPage(frame: Frame, view: RepositoryView): Html {
  const { repository } = view;
  const tags = view.rows.length
    ? table(
        `Tags of ${repository}`,
        ['Tag', 'Digest', 'Size', 'Pushed', 'Platforms / type', 'Actions'],
        view.rows.map((row) => tagRowHtml(frame, repository, row, view.mayDelete)),
        'tags',
      )
    : notice('info', 'This repository has no tags.');
  const paging =
    view.after || view.next
      ? html`<nav class="paging" aria-label="Pages">${view.after ? html`<a href="${repositoryPath(repository)}">First page</a>` : ''}${
          view.next
            ? html`<a href="${`${repositoryPath(repository)}?after=${encodeURIComponent(view.next)}`}" rel="next">Next page</a>`
            : ''
        }</nav>`
      : '';
  const body = html`<h1>${repository}</h1>
${view.message ?? ''}
<p class="lead"><code>${frame.registryHost}/${repository}</code></p>
${mirrorNotice(view.mirrorOf)}
${view.cutShort ? notExpandedNotice() : ''}
${tags}
${paging}`;
  return layout(frame, repository, [{ label: 'Repositories', href: '/ui/' }, { label: repository }], body);
}
