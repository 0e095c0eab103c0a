/**
 * The `auth.tokens` section: personal access tokens, which a signed-in user makes in the web UI for
 * the docker CLI and other registry clients (they log in with their user name and the token).
 *
 *   auth:
 *     tokens:
 *       maxLifetime: 90d        # no token lives longer, whatever its owner asked for
 *       maxPerUser: 50
 *       store: ./data/tokens/personal-tokens.json
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';

export const personalTokensConfigSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe('Whether signed-in users may make personal access tokens (and tokens made before are accepted).'),
  maxLifetime: durationSchema('90d')
    .refine((ms) => ms >= 3_600_000 && ms <= 366 * 86_400_000, { error: 'must be from 1h to 366d' })
    .describe(
      "The longest a token may live, from its creation: a token's own expiry cannot pass it, and lowering it shortens tokens already made. From 1h to 366d.",
    ),
  maxPerUser: z.number().int().min(1).max(1000).default(50).describe('Tokens one user may hold at once.'),
  store: filePath.optional().meta({
    description:
      'The token store (hashes only, never a secret), watched; `personal-token-usage.json` beside it holds when each was last used. Not used with `redis`: the tokens are then kept in Redis (`PREFIX personal-tokens`).',
    docDefault: '`dataDir/tokens/personal-tokens.json`',
  }),
});

export type PersonalTokensConfig = z.output<typeof personalTokensConfigSchema>;
