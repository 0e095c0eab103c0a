/**
 * The `signatures` workload: what a signature policy costs a warm pull. One registry-gate process
 * (built-in registry, plain HTTP, one worker, bcrypt cost 5, the credential cached after the first
 * request) with a policy on `signed/**` (an ECDSA P-256 key); the same small image is pushed to
 * `signed/app`, signed there in cosign's format (test/helpers/cosign-signer.ts), and to `plain/app`,
 * which no policy covers. Each round runs `HEAD /v2/<repo>/manifests/v1` under load with ab (as the
 * `head` workload does) against each; after the first request the verdict is cached, so the
 * difference is the tag lookup and the cache. The report shows requests per second of each and
 * signed ÷ plain (the goal of issue 26: at least 0.9×).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeHtpasswd } from '../test/helpers/gate.js';
import { RegistryClient } from '../test/helpers/registry-client.js';
import { makeSigningKey, signImage, writePublicKey } from '../test/helpers/cosign-signer.js';
import { runAbHead } from './ab.js';
import { NamedSamples } from './credential-rounds.js';
import { formatNumber, formatRatio, markdownTable, speedup } from './table.js';
import type { BenchOptions } from './options.js';
import type { Workspace } from './workspace.js';
import { startWorkloadGate } from './workload-gate.js';

const USER = 'bench';
const PASSWORD = 'bench-signatures-password';
type Pull = 'plain' | 'signed';
const REPOSITORY: Record<Pull, string> = { plain: 'plain/app', signed: 'signed/app' };

export class SignatureResults extends NamedSamples<Pull> {}

export interface SignatureRun {
  readonly url: string;
  readonly authorization: string;
  readonly workDir: string;
  readonly results: SignatureResults;
  readonly options: BenchOptions;
  readonly log: (line: string) => void;
}

/** The gate with its policy, both images pushed (one signed); everything on the workspace's cleanup. */
export async function startSignatureRun(ws: Workspace, options: BenchOptions, log: (line: string) => void): Promise<SignatureRun> {
  log('signatures: starting a gate with a signature policy on signed/**');
  const dir = join(ws.dir, 'signatures');
  await mkdir(dir, { recursive: true });
  await writeHtpasswd(join(dir, 'htpasswd'), { [USER]: PASSWORD }, 5);
  const key = makeSigningKey('ecdsa-p256');
  await writePublicKey(join(dir, 'cosign.pub'), key);
  const url = await startWorkloadGate(ws, dir, {
    access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
    signatures: [{ name: 'bench', repository: 'signed/**', keys: ['cosign.pub'], mode: 'enforce' }],
  });
  const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const client = new RegistryClient(() => ({ baseUrl: url, authHeader: authorization }));
  await client.pushImage(REPOSITORY.plain, 'v1');
  const signed = await client.pushImage(REPOSITORY.signed, 'v1');
  await signImage(client, key, new URL(url).host, REPOSITORY.signed, signed.digest);
  return { url, authorization, workDir: dir, results: new SignatureResults(), options, log };
}

/** One round: a warm HEAD of each image under load (plain first on even rounds, signed first on odd ones). */
export async function signatureRound(run: SignatureRun, round: number): Promise<void> {
  const order: Pull[] = round % 2 === 0 ? ['plain', 'signed'] : ['signed', 'plain'];
  const { seconds, timeoutSeconds } = run.options.load;
  for (const pull of order) {
    try {
      const summary = await runAbHead({
        url: `${run.url}/v2/${REPOSITORY[pull]}/manifests/v1`,
        headers: { Authorization: run.authorization, Accept: 'application/vnd.oci.image.manifest.v1+json' },
        seconds,
        concurrency: 8,
        timeoutSeconds,
        workDir: run.workDir,
      });
      if (summary.errors > 0) throw new Error(`${summary.errors} requests failed or were not 200`);
      run.results.add(pull, summary.requestsPerSecond);
      run.log(`signatures round ${round + 1}: ${pull} ${summary.requestsPerSecond.toFixed(1)} req/s`);
    } catch (error) {
      run.results.failures.push(`${pull}, round ${round + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

export function signatureSection(results: SignatureResults): string {
  const plain = results.median('plain');
  const signed = results.median('signed');
  const rows = [
    ['no policy (plain/app)', formatNumber(plain), '1.00×'],
    ['signed, under an enforce policy (signed/app), verdict cached', formatNumber(signed), formatRatio(speedup(signed, plain))],
  ];
  const failures = results.failures.length > 0 ? `\n\nFailed: ${results.failures.join('; ')}` : '';
  return [
    '## Signature policies',
    '',
    'Warm `HEAD /v2/<repo>/manifests/v1` under load (ab, 8 concurrent, keep-alive), plain HTTP to registry-gate with the built-in registry, one worker; median of the rounds. Goal: signed ≥ 0.9× plain.',
    '',
    markdownTable(['pull', 'req/s', '× no policy'], rows, ['left', 'right', 'right']),
  ]
    .join('\n')
    .concat(failures);
}
