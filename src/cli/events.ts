/**
 * `registry-gate events [--config FILE]`: each webhook's queue (events it has not been given yet)
 * and dead letters; `registry-gate events replay <id> | --all [--webhook NAME]`: dead letters queued
 * again. The command only reads the queue's files and leaves a replay request beside them: the
 * running server (the only writer of the queue) takes it within a second, or at its next start.
 */
import { Command } from 'commander';
import { loadConfig, type Config } from '../config/load.js';
import { readSegments } from '../events/segment-log.js';
import { eventPaths, readCursor, readDeadLetters, requestReplay, type DeadLetter } from '../events/webhook-files.js';
import { wants, webhookSettings } from '../events/index.js';
import { commandFailure, COMMAND_FAILURE, guard } from './_failure.js';

interface ListFlags {
  config?: string;
  json?: boolean;
}

interface ReplayFlags {
  config?: string;
  all?: boolean;
  webhook?: string;
}

interface WebhookSummary {
  readonly webhook: string;
  readonly queued: number;
  readonly deadLetters: DeadLetter[];
}

async function summaries(config: Config): Promise<WebhookSummary[]> {
  const paths = eventPaths(config.dataDir);
  const { opened } = await readSegments(paths.queue);
  const result: WebhookSummary[] = [];
  for (const hook of config.events.webhooks) {
    const settings = webhookSettings(hook);
    const cursor = (await readCursor(paths, hook.name)) ?? 0;
    const queued = opened.records.filter(
      (record) => record.seq > cursor && (record.only === undefined ? wants(settings, record.event) : record.only === hook.name),
    ).length;
    result.push({ webhook: hook.name, queued, deadLetters: await readDeadLetters(paths, hook.name) });
  }
  return result;
}

/** One dead letter on one line; names are JSON strings, so nothing in them can drive the terminal. */
function letterLine(letter: DeadLetter): string {
  const { event } = letter;
  const what =
    event.repository === '' ? '' : ` ${JSON.stringify(event.tag === undefined ? event.repository : `${event.repository}:${event.tag}`)}`;
  return `  ${event.id} ${event.action}${what} at ${event.time}: ${letter.attempts} tries, last ${JSON.stringify(letter.error)}\n`;
}

function webhookNames(config: Config): string[] {
  const names = config.events.webhooks.map((hook) => hook.name);
  if (names.length === 0) throw commandFailure(`${config.source ?? 'the configuration'} configures no webhook (events.webhooks)`);
  return names;
}

function replayCommand(): Command {
  return new Command('replay')
    .description('queue dead letters again for their webhook: one by event id, or --all')
    .argument('[id]', 'the event id of a dead letter')
    .option('-c, --config <file>', 'the YAML configuration file')
    .option('--all', 'every dead letter')
    .option('--webhook <name>', 'only the dead letters of this webhook')
    .action(
      guard(COMMAND_FAILURE, async function (this: Command, id: string | undefined) {
        // `--config` may be given before `replay` (an option of `events`) or after it.
        const flags = this.optsWithGlobals<ReplayFlags>();
        if ((id === undefined) === (flags.all !== true)) throw commandFailure('name one event id, or --all');
        if (id !== undefined && !/^[0-9a-f-]{36}$/.test(id)) throw commandFailure('an event id is a UUID');
        const config = await loadConfig({ file: flags.config });
        const names = webhookNames(config);
        if (flags.webhook !== undefined && !names.includes(flags.webhook))
          throw commandFailure(`no webhook is named ${JSON.stringify(flags.webhook)}`);
        const letters = (await summaries(config))
          .filter((summary) => flags.webhook === undefined || summary.webhook === flags.webhook)
          .flatMap((summary) => summary.deadLetters)
          .filter((letter) => id === undefined || letter.event.id === id);
        if (letters.length === 0) throw commandFailure(id === undefined ? 'there are no dead letters' : `no dead letter has the id ${id}`);
        await requestReplay(eventPaths(config.dataDir), { webhook: flags.webhook, id, all: flags.all === true ? true : undefined });
        process.stdout.write(
          `${letters.length} dead letter(s) will be queued again by the server (within a second if it runs, else at its start)\n`,
        );
      }),
    );
}

export function eventsCommand(): Command {
  return new Command('events')
    .description("the webhooks' queue and dead letters (events.webhooks); `events replay` queues dead letters again")
    .option('-c, --config <file>', 'the YAML configuration file')
    .option('--json', 'print JSON')
    .action(
      guard(COMMAND_FAILURE, async (flags: ListFlags) => {
        const config = await loadConfig({ file: flags.config });
        webhookNames(config);
        const all = await summaries(config);
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
          return;
        }
        for (const summary of all) {
          process.stdout.write(`${summary.webhook}: ${summary.queued} queued, ${summary.deadLetters.length} dead letter(s)\n`);
          for (const letter of summary.deadLetters) process.stdout.write(letterLine(letter));
        }
      }),
    )
    .addCommand(replayCommand());
}
