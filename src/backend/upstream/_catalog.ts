/** One page of the upstream's catalog, read with a hard size cap. */
import type { Pool } from 'undici';
import { RegistryError } from '../../oci/errors.js';

const MAX_CATALOG_BYTES = 8 * 1024 * 1024;

export async function fetchCatalogPage(
  pool: Pool,
  after: string | undefined,
  limit: number,
  headers: Record<string, string>,
): Promise<string[]> {
  const query = new URLSearchParams({ n: String(limit) });
  if (after !== undefined) query.set('last', after);
  const response = await pool.request({ path: `/v2/_catalog?${query}`, method: 'GET', headers });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_CATALOG_BYTES) {
      response.body.destroy();
      throw new RegistryError('UPSTREAM_ERROR', 'the upstream catalog page is too large');
    }
    chunks.push(chunk);
  }
  if (response.statusCode !== 200) throw new RegistryError('UPSTREAM_ERROR', `the upstream catalog answered ${response.statusCode}`);
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { repositories?: unknown };
  if (!Array.isArray(parsed.repositories)) return [];
  return parsed.repositories.filter((name): name is string => typeof name === 'string');
}
