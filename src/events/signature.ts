/**
 * The signature of a delivery: HMAC-SHA256, under the webhook's secret, of `<timestamp>.<body>`,
 * where the timestamp is the Unix time in seconds sent beside it. Signing the timestamp with the
 * body lets a receiver refuse a delivery replayed long after it was made (docs/events.md has the
 * receiver's check).
 *
 *   X-Registry-Gate-Timestamp: 1764780000
 *   X-Registry-Gate-Signature: sha256=<hex>
 */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-registry-gate-signature';
export const TIMESTAMP_HEADER = 'x-registry-gate-timestamp';
export const EVENT_ID_HEADER = 'x-registry-gate-event-id';

export function signDelivery(secret: Buffer, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}
