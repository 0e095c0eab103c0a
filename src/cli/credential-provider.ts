/**
 * `registry-gate credential-provider`: a kubelet image credential provider (the exec protocol of
 * _kubelet-protocol.ts), so pods pull private images with no imagePullSecret. It reads the
 * kubelet's request, trades the pod's service-account token at the gateway's `/auth/token` (RFC
 * 8693 token exchange, verified there against an `auth.federation` trust policy) for a registry
 * token limited to pulling that one image's repository, and answers it as the password for the
 * gateway's host. The service-account token goes to the gateway only, over verified TLS, and is
 * never printed; what the kubelet gets is the gateway's own short-lived token.
 *
 * The kubelet's CredentialProviderConfig runs it as, for example:
 *
 *   - name: registry-gate
 *     matchImages: ["registry.example.com"]
 *     defaultCacheDuration: 1m
 *     apiVersion: credentialprovider.kubelet.k8s.io/v1
 *     args: [credential-provider, --gateway, https://registry.example.com, --service, registry.example.com]
 *     tokenAttributes: { serviceAccountTokenAudience: https://registry.example.com, requireServiceAccount: true, cacheType: ServiceAccount }
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { Agent, request } from 'undici';
import { CliFailure, COMMAND_FAILURE, commandFailure, guard } from './_failure.js';
import { kubeletResponse, MAX_REQUEST_BYTES, parseKubeletRequest, repositoryOf, type KubeletRequest } from './_kubelet-protocol.js';

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const MAX_ANSWER_BYTES = 64 * 1024;

interface Flags {
  gateway: string;
  service: string;
  ca?: string;
  timeout: string;
}

/** stdin, up to MAX_REQUEST_BYTES. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const piece = chunk as Buffer;
    size += piece.length;
    if (size > MAX_REQUEST_BYTES) throw commandFailure(`the request on stdin is larger than ${MAX_REQUEST_BYTES} bytes`);
    chunks.push(piece);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The registry token the gateway answers for the pod's token, and how long it lives. */
async function exchange(gateway: URL, flags: Flags, asked: KubeletRequest, repository: string) {
  const ca = flags.ca === undefined ? undefined : await readFile(flags.ca);
  const timeoutMs = Number(flags.timeout);
  const dispatcher = new Agent({ connect: { timeout: timeoutMs, ...(ca ? { ca } : {}) } });
  try {
    const form = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: asked.serviceAccountToken,
      subject_token_type: JWT_TOKEN_TYPE,
      service: flags.service,
      scope: `repository:${repository}:pull`,
    });
    const answer = await request(new URL('/auth/token', gateway), {
      method: 'POST',
      dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    const text = await answer.body.text();
    if (text.length > MAX_ANSWER_BYTES) throw commandFailure('the gateway answered more than a token');
    if (answer.statusCode !== 200) throw commandFailure(`the gateway refused the service-account token (${answer.statusCode})`);
    const body = JSON.parse(text) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') throw commandFailure('the gateway answered no token');
    return { token: body.access_token, expiresIn: body.expires_in };
  } finally {
    await dispatcher.close();
  }
}

export function credentialProviderCommand(): Command {
  return new Command('credential-provider')
    .description("a kubelet image credential provider: trades the pod's service-account token (stdin) for a registry token (stdout)")
    .requiredOption('--gateway <url>', 'the gateway, https://HOST[:PORT] (the host images are pulled from)')
    .requiredOption('--service <name>', "the gateway's token service name (auth.token.service)")
    .option('--ca <file>', "PEM file with the CA to verify the gateway's certificate against (default: the system's)")
    .option('--timeout <ms>', 'how long the exchange may take', '10000')
    .action(
      guard(COMMAND_FAILURE, async (flags: Flags) => {
        const gateway = new URL(flags.gateway);
        if (gateway.protocol !== 'https:') throw commandFailure('--gateway must be an https:// URL (the token goes over it)');
        const asked = parseKubeletRequest(await readStdin());
        if (typeof asked === 'string') throw commandFailure(asked);
        const repository = repositoryOf(asked.image, gateway.host);
        if (repository === undefined) throw new CliFailure(`registry-gate: ${asked.image} is not an image of ${gateway.host}`, 1);
        const { token, expiresIn } = await exchange(gateway, flags, asked, repository);
        process.stdout.write(`${JSON.stringify(kubeletResponse(gateway.host, token, expiresIn))}\n`);
      }),
    );
}
