/** The parsed contents of a JSON file that a schema describes, or an error naming the file and what is wrong. */
import type { z } from 'zod';
import { InternalError } from './internal-errors.js';

/** `text` (read from `file`) parsed and checked against `schema`; `what` names the kind of file in errors ("a robot store"). */
export function parseJsonFile<Schema extends z.ZodType>(text: string, file: string, schema: Schema, what: string): z.infer<Schema> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InternalError('RG_ERR_FILE_INVALID', `${file} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InternalError(
      'RG_ERR_FILE_INVALID',
      `${file} is not ${what}: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`,
    );
  }
  return parsed.data;
}
