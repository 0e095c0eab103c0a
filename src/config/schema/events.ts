/**
 * The `events` configuration section: webhooks told what happened (a push, a delete, a pull, a
 * refused login), from a durable queue under `dataDir/events` (src/events/).
 *
 *   events:
 *     webhooks:
 *       - name: ci
 *         url: https://ci.internal/registry-hook
 *         secretFile: /etc/registry-gate/ci-hook.secret   # HMAC-SHA256 key of the signature
 *         actions: [push, delete]
 *         repositories: ["team-a/**"]
 *         format: cloudevents                              # or distribution
 *     queue: { maxEvents: 10000 }
 *     maxAttempts: 12
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';
import { repositoryPatternProblem } from './repository-pattern.js';

export const EVENT_ACTIONS = ['push', 'delete', 'pull', 'login-failed'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

const webhookName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and - only (it names files and metric labels)')
  .meta({ docType: 'name' });

const webhookUrl = z
  .string()
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === '';
      } catch {
        return false;
      }
    },
    { error: 'expected http(s)://HOST[:PORT]/PATH without credentials (the secret is secretFile)' },
  )
  .meta({ docType: 'URL' });

const repositoryPattern = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const problem = repositoryPatternProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ docType: 'repository pattern' });

export const webhookConfigSchema = z.strictObject({
  name: webhookName.describe('Names the webhook in metrics, the UI, `registry-gate events` and its files under `dataDir/events`; unique.'),
  url: webhookUrl.describe('Where each event is POSTed. A redirect is a failed delivery, never followed.'),
  secretFile: filePath.describe(
    'File holding the HMAC-SHA256 key that signs every delivery (`X-Registry-Gate-Signature`); read again at every try (replacing it rotates the key), never logged.',
  ),
  actions: z
    .array(z.enum(EVENT_ACTIONS))
    .min(1)
    .default(['push', 'delete'])
    .describe(
      'What the webhook is told: `push` (a manifest stored), `delete` (a manifest or tag deleted), `pull` (a manifest read), `login-failed`.',
    ),
  repositories: z
    .array(repositoryPattern)
    .min(1)
    .default(['**'])
    .describe(
      'Repositories whose events it is told, as patterns (`*`, `**`). `login-failed` at the token endpoint names none and is always sent.',
    ),
  format: z
    .enum(['cloudevents', 'distribution'])
    .default('cloudevents')
    .describe("`cloudevents` (CloudEvents 1.0 structured JSON) or `distribution` (Distribution's notification envelope)."),
  ca: filePath
    .optional()
    .meta({ description: "PEM file with the CA(s) the receiver's certificate is checked against.", docDefault: "the system's" }),
  timeout: durationSchema('10s', { positive: true }).describe('How long one delivery may take, connection to answer.'),
});

export const eventsConfigSchema = z
  .strictObject({
    webhooks: z
      .array(webhookConfigSchema)
      .max(32)
      .default([])
      .refine((hooks) => new Set(hooks.map((hook) => hook.name)).size === hooks.length, { error: 'webhook names must be unique' })
      .describe('The receivers; with none, no event is made, queued or stored.'),
    queue: z
      .strictObject({
        maxEvents: z
          .number()
          .int()
          .min(10)
          .max(10_000_000)
          .default(100_000)
          .describe(
            'Events kept until every webhook has them, at most. When full, a push or delete is refused (503) before anything changes; pull and login-failed events are dropped and counted.',
          ),
      })
      .prefault({})
      .describe('The durable queue under `dataDir/events`.'),
    maxAttempts: z.number().int().min(1).max(1000).default(12).describe('Tries of one delivery before it becomes a dead letter.'),
    retryDelay: durationSchema('1s', { positive: true }).describe('Wait before the first retry; doubled each try (with jitter).'),
    maxRetryDelay: durationSchema('5m', { positive: true }).describe('The longest wait between two tries.'),
    maxDeadLetters: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(10_000)
      .describe('Dead letters kept per webhook, at most; past it the oldest is dropped (and counted).'),
    source: z.string().min(1).max(200).optional().meta({
      description: 'The CloudEvents `source` and Distribution `source.addr` of every event.',
      docDefault: '`registry-gate://HOSTNAME`',
    }),
  })
  .prefault({})
  .describe('Webhooks told what happened, from a durable queue (docs/events.md).');

export type WebhookConfig = z.output<typeof webhookConfigSchema>;
export type EventsConfig = z.output<typeof eventsConfigSchema>;
