/**
 * `signatures`: the repositories whose images may be pulled only when signed by one of a policy's
 * keys (docs/signatures.md). Checking signatures is the signatures stage's job (src/signatures/);
 * this says which values are acceptable.
 *
 *   signatures:
 *     - name: production
 *       repository: prod/**
 *       keys: [/etc/registry-gate/cosign.pub]
 *       mode: enforce
 */
import { z } from 'zod';
import { filePath } from './file-path.js';
import { repositoryPatternProblem } from './repository-pattern.js';

const policyName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lower-case letters, digits and dashes')
  .describe('Names the policy in refusals, audit lines and logs (never the keys).');

const signaturePolicy = z.strictObject({
  name: policyName,
  repository: z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      // Placeholders stand for the caller; whether an image must be signed does not depend on who pulls it.
      const problem = value.includes('${') ? 'no placeholders here' : repositoryPatternProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({
      docType: 'repository pattern',
      description: 'Repositories the policy covers: `*` within one path component, `**` across components; no placeholders.',
    }),
  keys: z
    .array(filePath)
    .min(1)
    .max(16)
    .describe(
      'PEM public keys (ECDSA P-256, Ed25519, RSA of 2048 bits or more), one or more per file; watched: a change applies within 2 seconds, a file that does not hold a usable key keeps the last good keys.',
    ),
  mode: z
    .enum(['enforce', 'audit'])
    .default('enforce')
    .describe(
      '`enforce`: an unsigned pull is refused (403 DENIED); `audit`: it is allowed and the audit trail says it would have been refused.',
    ),
  referrers: z
    .boolean()
    .default(false)
    .describe(
      'Whether a sigstore bundle (cosign --new-bundle-format) attached to the manifest as an OCI 1.1 referrer counts as its signature. A bundle binds the digest, not the repository: one copied into another repository verifies there too (cosign tag signatures bind both). Keys only: no certificate, no transparency log.',
    ),
});

export const signaturesConfigSchema = z
  .array(signaturePolicy)
  .max(64)
  .superRefine((policies, ctx) => {
    const names = new Set<string>();
    for (const [index, policy] of policies.entries()) {
      if (names.has(policy.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `${policy.name} is named twice` });
      names.add(policy.name);
    }
  })
  .default([])
  .meta({
    docType: 'list of policies',
    description:
      'Signature policies: a pull of a manifest (by tag or digest) in a repository a policy covers is allowed only when a cosign signature by one of its keys covers that digest for that repository, or (with `referrers`) a sigstore bundle attached to it does (docs/signatures.md). Every policy that covers a repository must be met.',
    docDefault: 'none',
  });

export type SignaturePolicyConfig = z.output<typeof signaturePolicy>;
