/**
 * One manifest (by tag or digest): an index's platforms, or an image's layers, config (labels,
 * entrypoint, history) and annotations; its subject; its referrers (signatures, SBOMs,
 * attestations) grouped by artifact type; pull commands; delete.
 */
import { html, type Html } from '../html.js';
import { manifestPath, repositoryPath } from '../paths.js';
import { imageSize, type ConfigView, type DescriptorView, type ManifestView } from '../content.js';
import {
  abbreviate,
  formatBytes,
  keyValues,
  layout,
  notExpandedNotice,
  notice,
  pullCommands,
  shortDigest,
  table,
  time,
  type Frame,
} from './layout.js';
import { deleteForm, mirrorNotice } from './repository.js';

export interface ManifestPageView {
  readonly repository: string;
  readonly reference: string;
  readonly manifest: ManifestView;
  readonly config?: ConfigView | undefined;
  /** Sizes of an index's platform images, by digest, where they could be read. */
  readonly platformSizes: ReadonlyMap<string, number>;
  readonly referrers: readonly DescriptorView[];
  readonly referrersFailed: boolean;
  readonly mayDelete: boolean;
  /** The registry the repository is a read-only mirror of, when it is one. */
  readonly mirrorOf?: string | undefined;
  /** The page's limits kept it from reading every entry's size. */
  readonly cutShort: boolean;
}

function digestLink(repository: string, digest: string): Html {
  return html`<a href="${manifestPath(repository, digest)}">${shortDigest(digest)}</a>`;
}

function annotations(caption: string, values: Record<string, string>): Html {
  const entries = Object.entries(values);
  return entries.length ? html`<h3>${caption}</h3>${keyValues(caption, entries)}` : html``;
}

function platformsSection(view: ManifestPageView): Html {
  const rows = view.manifest.manifests.map(
    (child) => html`<tr><th scope="row">${child.platform ?? child.artifactType ?? 'unknown'}</th>
<td data-label="Manifest">${digestLink(view.repository, child.digest)}</td>
<td data-label="Size">${formatBytes(view.platformSizes.get(child.digest))}</td>
<td data-label="Media type"><code>${child.mediaType}</code></td></tr>`,
  );
  return html`<section aria-labelledby="platforms"><h2 id="platforms">Platforms</h2>
${view.cutShort ? notExpandedNotice() : ''}
${rows.length ? table(`${rows.length} ${rows.length === 1 ? 'platform' : 'platforms'}`, ['Platform', 'Manifest', 'Size', 'Media type'], rows) : notice('info', 'This index lists no manifests.')}</section>`;
}

function layersSection(manifest: ManifestView): Html {
  const rows = manifest.layers.map(
    (layer, index) => html`<tr><th scope="row">${index + 1}</th><td data-label="Digest">${shortDigest(layer.digest)}</td>
<td data-label="Size">${formatBytes(layer.size)}</td><td data-label="Media type"><code>${layer.mediaType}</code></td></tr>`,
  );
  const total = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  return html`<section aria-labelledby="layers"><h2 id="layers">Layers</h2>
${rows.length ? table(`${rows.length} ${rows.length === 1 ? 'layer' : 'layers'}, ${formatBytes(total)} in all`, ['#', 'Digest', 'Size', 'Media type'], rows, 'layers') : notice('info', 'No layers.')}</section>`;
}

function configSection(manifest: ManifestView, config: ConfigView | undefined): Html {
  if (!manifest.config) return html``;
  if (!config) {
    return html`<section aria-labelledby="config"><h2 id="config">Config</h2>${keyValues('Config', [
      ['Digest', shortDigest(manifest.config.digest)],
      ['Media type', html`<code>${manifest.config.mediaType}</code>`],
      ['Size', formatBytes(manifest.config.size)],
    ])}</section>`;
  }
  const command = (parts: readonly string[]) => html`<code>${JSON.stringify(parts)}</code>`;
  const facts: Array<readonly [string, string | Html]> = [];
  if (config.platform) facts.push(['Platform', config.platform]);
  if (config.created) facts.push(['Created', config.created]);
  if (config.entrypoint.length) facts.push(['Entrypoint', command(config.entrypoint)]);
  if (config.cmd.length) facts.push(['Command', command(config.cmd)]);
  if (config.workingDir) facts.push(['Working directory', html`<code>${config.workingDir}</code>`]);
  if (config.user) facts.push(['User', html`<code>${config.user}</code>`]);
  if (config.exposedPorts.length) facts.push(['Exposed ports', config.exposedPorts.join(', ')]);
  facts.push(['Config', shortDigest(manifest.config.digest)]);
  const history = config.history.map(
    (step, index) =>
      html`<li${step.emptyLayer ? html` class="empty"` : ''}><span class="step">${index + 1}</span> <code>${step.createdBy ?? '(no command recorded)'}</code>${
        step.created ? html` <span class="muted">${step.created}</span>` : ''
      }</li>`,
  );
  return html`<section aria-labelledby="config"><h2 id="config">Config</h2>
${keyValues('Config', facts)}
${annotations('Labels', config.labels)}
${history.length ? html`<h3>History</h3><ol class="history">${history}</ol>` : ''}</section>`;
}

function referrersSection(view: ManifestPageView): Html {
  if (view.referrersFailed)
    return html`<section aria-labelledby="referrers"><h2 id="referrers">Referrers</h2>${notice('error', 'The referrers could not be read.')}</section>`;
  const groups = new Map<string, DescriptorView[]>();
  for (const referrer of view.referrers) {
    const type = referrer.artifactType || referrer.mediaType || 'unknown';
    groups.set(type, [...(groups.get(type) ?? []), referrer]);
  }
  const sections = [...groups].map(
    ([type, entries]) =>
      html`<h3><code>${type}</code></h3><ul class="referrers">${entries.map(
        (entry) =>
          html`<li>${digestLink(view.repository, entry.digest)} <span class="muted">${formatBytes(entry.size)}</span>${
            entry.annotations['org.opencontainers.image.created']
              ? html` <span class="muted">${entry.annotations['org.opencontainers.image.created']}</span>`
              : ''
          }</li>`,
      )}</ul>`,
  );
  return html`<section aria-labelledby="referrers"><h2 id="referrers">Referrers</h2>
${sections.length ? sections : notice('info', 'No signatures, SBOMs or attestations refer to this manifest.')}</section>`;
}

export function manifestPage(frame: Frame, view: ManifestPageView): Html {
  const { repository, reference, manifest } = view;
  const label = reference.includes(':') ? abbreviate(reference) : reference;
  const facts: Array<readonly [string, string | Html]> = [
    ['Digest', html`<code class="wrap">${manifest.digest}</code>`],
    ['Media type', html`<code>${manifest.mediaType}</code>`],
  ];
  if (manifest.artifactType) facts.push(['Artifact type', html`<code>${manifest.artifactType}</code>`]);
  if (manifest.kind === 'image') facts.push(['Size', formatBytes(imageSize(manifest))]);
  if (manifest.pushedAt) facts.push(['Pushed', time(manifest.pushedAt)]);
  if (manifest.subject) facts.push(['Refers to', digestLink(repository, manifest.subject.digest)]);
  const body = html`<h1><span class="muted">${repository}${reference.includes(':') ? '@' : ':'}</span>${label}</h1>
${mirrorNotice(view.mirrorOf)}
${keyValues('Manifest', facts)}
<section aria-labelledby="pull"><h2 id="pull">Pull</h2>${pullCommands(frame.registryHost, repository, reference)}</section>
${manifest.kind === 'index' ? platformsSection(view) : ''}
${manifest.kind === 'image' ? layersSection(manifest) : ''}
${manifest.kind === 'image' ? configSection(manifest, view.config) : ''}
${annotations('Annotations', manifest.annotations)}
${referrersSection(view)}
${
  view.mayDelete
    ? html`<section aria-labelledby="danger"><h2 id="danger">Delete</h2>
<p>${reference.includes(':') ? 'Deleting a manifest by digest also removes every tag that names it.' : 'Deleting a tag leaves its manifest in place under its digest.'}</p>
${deleteForm(frame, repository, reference, reference.includes(':') ? `the manifest ${manifest.digest}` : `the tag ${reference}`)}</section>`
    : ''
}`;
  return layout(
    frame,
    `${repository}${reference.includes(':') ? '@' : ':'}${label}`,
    [{ label: 'Repositories', href: '/ui/' }, { label: repository, href: repositoryPath(repository) }, { label }],
    body,
  );
}
