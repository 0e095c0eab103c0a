/**
 * What a receiver is sent for one event, in the webhook's format:
 *
 * - `cloudevents`: a CloudEvents 1.0 structured-mode JSON object (`application/cloudevents+json`),
 *   `type` `dev.registry-gate.<action>`, `subject` the repository (and `:tag` or `@digest`).
 * - `distribution`: Distribution's notification envelope (`{"events":[…]}`, media type
 *   `application/vnd.docker.distribution.events.v1+json`), one event per delivery, so receivers
 *   written for Distribution's notifications work unchanged. Distribution has no `login-failed`.
 *
 * Both are JSON.stringify of plain values: any character a repository name or tag holds (and a tried
 * user name, which may hold anything) comes out as valid JSON.
 */
import type { RegistryEvent } from './event.js';

export type WebhookFormat = 'cloudevents' | 'distribution';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
export const DISTRIBUTION_CONTENT_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export interface Payload {
  readonly contentType: string;
  readonly body: string;
}

/** `source`: the CloudEvents source and Distribution's `source.addr`. */
export function payloadOf(event: RegistryEvent, format: WebhookFormat, source: string): Payload {
  return format === 'distribution'
    ? { contentType: DISTRIBUTION_CONTENT_TYPE, body: JSON.stringify({ events: [distributionEvent(event, source)] }) }
    : { contentType: CLOUDEVENTS_CONTENT_TYPE, body: JSON.stringify(cloudEvent(event, source)) };
}

function subjectOf(event: RegistryEvent): string | undefined {
  if (event.repository === '') return undefined;
  if (event.tag !== undefined) return `${event.repository}:${event.tag}`;
  return event.digest === undefined ? event.repository : `${event.repository}@${event.digest}`;
}

function cloudEvent(event: RegistryEvent, source: string): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: event.id,
    source,
    type: `dev.registry-gate.${event.action}`,
    time: event.time,
    subject: subjectOf(event),
    datacontenttype: 'application/json',
    data: {
      action: event.action,
      repository: event.repository,
      tag: event.tag,
      digest: event.digest,
      mediaType: event.mediaType,
      size: event.size,
      user: event.user,
      client: event.client,
      method: event.method,
      host: event.host,
      userAgent: event.userAgent,
      reason: event.reason,
      endpoint: event.endpoint,
    },
  };
}

function distributionEvent(event: RegistryEvent, source: string): Record<string, unknown> {
  return {
    id: event.id,
    timestamp: event.time,
    action: event.action,
    target: {
      mediaType: event.mediaType,
      size: event.size,
      length: event.size,
      digest: event.digest,
      repository: event.repository,
      url: event.host && event.digest ? `https://${event.host}/v2/${event.repository}/manifests/${event.digest}` : undefined,
      tag: event.tag,
    },
    request: { id: event.id, addr: event.client, host: event.host, method: event.method, useragent: event.userAgent },
    actor: { name: event.user ?? '' },
    source: { addr: source, instanceID: source },
  };
}
