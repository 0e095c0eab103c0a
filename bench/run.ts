/**
 * `npm run bench [-- --quick]`: registry-gate against the nginx recipe and the bare Distribution
 * registry, on this machine, on 127.0.0.1. Starts every target (bench/targets.ts), runs the rounds
 * (bench/workloads.ts), writes the Markdown report (bench/report.ts) to docs/benchmarks.md, prints
 * it, and removes every process and temp file it made, on success, failure or Ctrl-C.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { makeBlobFiles, writeCurlAuth } from './blobs.js';
import { describeMachine } from './machine.js';
import { parseBenchOptions, TARGET_WORKLOADS, USAGE } from './options.js';
import { renderReport } from './report.js';
import { Results } from './results.js';
import { startFleet } from './targets.js';
import { openWorkspace } from './workspace.js';
import { seedPullBlob, skopeoRound, smallRequestsRound, transfersRound, type BenchContext } from './workloads.js';
import { writeWrkScript } from './wrk.js';
import { formatSize } from './table.js';
import { ReplicaResults, replicasRound, startReplicaFleet, type ReplicasRun } from './replicas.js';
import { LdapResults, ldapRound, startLdapFleet, type LdapRun } from './ldap.js';
import { startTokenGate, TokenResults, tokenRound, type TokenRun } from './personal-tokens.js';
import { federationRound, startFederationRun, type FederationRun } from './federation.js';
import { signatureRound, startSignatureRun, type SignatureRun } from './signatures.js';
import { startWebhookRun, webhookRound, type WebhookRun } from './webhooks.js';
import { required } from './required.js';
import { coldPullsRound, headByDigestRound } from './cache-workloads.js';

const t0 = Date.now();
function log(line: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
}

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const ws = await openWorkspace({ keep: options.keepTemp, log });
  try {
    const machine = await describeMachine();
    log(`registry-gate bench (${options.quick ? 'quick' : 'full'}), ${options.rounds} round(s), temp dir ${ws.dir}`);
    if (options.profileDir) {
      options.profileDir = resolve(options.profileDir);
      await mkdir(options.profileDir, { recursive: true });
      log(`CPU profiles go to ${options.profileDir} when the servers stop`);
    }
    const wrkScript = await writeWrkScript(ws.dir);
    const results = new Results();
    let ctx: BenchContext | undefined;
    const transfers = options.only.has('pull') || options.only.has('push');
    if (TARGET_WORKLOADS.some((workload) => options.only.has(workload))) {
      const fleet = await startFleet(ws, options, log);
      const blobDir = join(ws.dir, 'blobs');
      await mkdir(blobDir);
      const fileCount = transfers ? options.streams + 1 : 1;
      log(`writing ${fileCount} blob file(s) of ${formatSize(transfers ? options.blobBytes : 1024)}`);
      const [pullFile, ...pushFiles] = await makeBlobFiles(blobDir, fileCount, transfers ? options.blobBytes : 1024);
      ctx = {
        options,
        fleet,
        results,
        workDir: ws.dir,
        wrkScript,
        authHeaderFile: await writeCurlAuth(ws.dir, fleet.registry.authorization),
        pushFiles,
        pullFile: required(pullFile, 'the pull blob file'),
        log,
      };
      if (options.only.has('pull')) await seedPullBlob(ctx);
    }
    const replicas: ReplicasRun | undefined = options.only.has('replicas')
      ? { fleet: await startReplicaFleet(ws, log), results: new ReplicaResults(), options, wrkScript, workDir: ws.dir, log }
      : undefined;
    const ldap: LdapRun | undefined = options.only.has('ldap')
      ? { fleet: await startLdapFleet(ws, log), results: new LdapResults(), options, log }
      : undefined;
    const tokens: TokenRun | undefined = options.only.has('pat')
      ? { ...(await startTokenGate(ws, log)), results: new TokenResults(), options, log }
      : undefined;
    const federation: FederationRun | undefined = options.only.has('federation') ? await startFederationRun(ws, options, log) : undefined;
    const signatures: SignatureRun | undefined = options.only.has('signatures') ? await startSignatureRun(ws, options, log) : undefined;
    const webhooks: WebhookRun | undefined = options.only.has('webhooks') ? await startWebhookRun(ws, options, log) : undefined;

    for (let round = 0; round < options.rounds; round++) {
      log(`round ${round + 1}/${options.rounds}`);
      if (ctx && (options.only.has('get') || options.only.has('head'))) await smallRequestsRound(ctx, round);
      if (ctx && transfers) await transfersRound(ctx, round);
      if (ctx && options.only.has('pull')) await coldPullsRound(ctx, round);
      if (ctx && options.only.has('head')) await headByDigestRound(ctx, round);
      if (ctx && options.only.has('skopeo')) await skopeoRound(ctx, round);
      if (replicas) await replicasRound(replicas, round);
      if (ldap) await ldapRound(ldap, round);
      if (tokens) await tokenRound(tokens, round);
      if (federation) await federationRound(federation, round);
      if (signatures) await signatureRound(signatures, round);
      if (webhooks) await webhookRound(webhooks, round);
    }

    const report = renderReport({
      options,
      machine,
      results,
      replicas: replicas?.results,
      ldap: ldap?.results,
      tokens: tokens?.results,
      federation: federation?.results,
      signatures: signatures?.results,
      webhooks: webhooks?.results,
      startFailures: ctx?.fleet.failures ?? [],
      elapsedSeconds: (Date.now() - t0) / 1000,
      loadAverageAfter: loadavg()[0] ?? 0,
    });
    const out = resolve(options.out);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, report);
    process.stdout.write(report);
    log(`wrote ${out}`);
    return 0;
  } finally {
    await ws.cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
