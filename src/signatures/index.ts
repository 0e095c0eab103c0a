/**
 * The signature policies of one configuration (`signatures`), with their watched keys: which
 * policies cover a repository, and their verdicts on a manifest. What to do with a verdict (refuse,
 * audit, let a signer read) is the pipeline's step (gateway/signatures.ts).
 */
import type { Logger } from 'pino';
import type { SignaturePolicyConfig } from '../config/schema/signatures.js';
import { PolicyKeys } from './keys.js';
import { SignaturePolicy, type SignatureVerdict } from './policy.js';
import type { SignatureReader } from './content.js';

export type { SignatureVerdict } from './policy.js';
export type { SignatureReader } from './content.js';

export class SignaturePolicies {
  private constructor(
    private readonly policies: readonly SignaturePolicy[],
    private readonly keys: readonly PolicyKeys[],
  ) {}

  /** Loads every policy's keys (a file without a usable key fails the start or the reload, naming it). */
  static async open(configs: readonly SignaturePolicyConfig[], logger: Logger): Promise<SignaturePolicies> {
    const policies: SignaturePolicy[] = [];
    const opened: PolicyKeys[] = [];
    try {
      for (const config of configs) {
        const keys = await PolicyKeys.open(config.keys, config.name, logger);
        opened.push(keys);
        const policy = new SignaturePolicy(config, () => keys.current);
        keys.onChange(() => {
          policy.keysChanged();
          logger.info({ policy: config.name, keys: keys.current.length }, 'signature keys reloaded; verdicts of the policy dropped');
        });
        policies.push(policy);
      }
    } catch (error) {
      await Promise.all(opened.map((keys) => keys.close()));
      throw error;
    }
    return new SignaturePolicies(policies, opened);
  }

  /** Whether any policy covers `repository`. */
  covers(repository: string): boolean {
    return this.policies.some((policy) => policy.covers(repository));
  }

  /**
   * The verdict of every policy that covers `repository` on the manifest `digest`, in config order;
   * undefined when the registry has no such manifest (the backend answers the 404 itself).
   */
  async verdicts(reader: SignatureReader, repository: string, digest: string): Promise<SignatureVerdict[] | undefined> {
    const verdicts: SignatureVerdict[] = [];
    for (const policy of this.policies) {
      if (!policy.covers(repository)) continue;
      const verdict = await policy.verdict(reader, repository, digest);
      if (!verdict) return undefined;
      verdicts.push(verdict);
    }
    return verdicts;
  }

  /** A manifest of `repository` was pushed or deleted through the gateway: its signatures may have changed. */
  signaturesChanged(repository: string): void {
    for (const policy of this.policies) if (policy.covers(repository)) policy.signaturesChanged(repository);
  }

  async close(): Promise<void> {
    await Promise.all(this.keys.map((keys) => keys.close()));
  }
}
