/**
 * What the credential workloads (`ldap`, `pat`, `federation`) share: requests per second kept per
 * name, one value per round (the report shows medians), and the timed loop of `GET /v2/` sent one
 * after another over one keep-alive connection.
 */
import { request, type Dispatcher } from 'undici';
import { median } from './results.js';

/** Requests per second of each name (a gate, a kind of credential), one value per round. */
export class NamedSamples<Name extends string> {
  readonly samples = new Map<Name, number[]>();
  readonly failures: string[] = [];

  add(name: Name, value: number): void {
    if (Number.isFinite(value)) this.samples.set(name, [...(this.samples.get(name) ?? []), value]);
  }

  median(name: Name): number | undefined {
    return median(this.samples.get(name) ?? []);
  }
}

async function getV2(url: string, dispatcher: Dispatcher, authorization: string, what: string): Promise<void> {
  const response = await request(`${url}/v2/`, { dispatcher, headers: { authorization } });
  await response.body.dump();
  if (response.statusCode !== 200) throw new Error(`${what}: GET /v2/ answered ${response.statusCode}`);
}

/** One warm-up `GET /v2/` (the one verification), then `count` more one after another: requests per second of those. */
export async function sequentialGetRate(
  url: string,
  dispatcher: Dispatcher,
  authorization: string,
  count: number,
  what: string,
): Promise<number> {
  await getV2(url, dispatcher, authorization, what);
  const started = performance.now();
  for (let i = 0; i < count; i++) await getV2(url, dispatcher, authorization, what);
  return count / ((performance.now() - started) / 1000);
}
