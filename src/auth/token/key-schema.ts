/** The shape of token-keys.json (see key-file.ts): the current key with its private half, and after a rotation the previous key's certificate. */
import { z } from 'zod';
import { SIGNING_ALGORITHMS } from './types.js';

const storedKey = z.strictObject({
  kid: z.string().min(1),
  algorithm: z.enum(SIGNING_ALGORITHMS),
  created: z.iso.datetime(),
  certificate: z.string().min(1),
});
export const keyFileSchema = z.strictObject({
  version: z.literal(1),
  current: storedKey.extend({ privateKey: z.string().min(1) }),
  previous: storedKey.extend({ retired: z.iso.datetime() }).optional(),
});
export type StoredKey = z.infer<typeof storedKey>;
export type KeyFile = z.infer<typeof keyFileSchema>;
