/**
 * Webhook signatures: HMAC-SHA256 with the endpoint's secret over `<timestamp>.<body>`, sent as
 * `X-Vigil-Signature: t=<timestamp ms>,v1=<hex>`. Signing the timestamp with the body lets a
 * receiver refuse replays older than its tolerance (docs/observability.md has the check).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-vigil-signature';

export function sign(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** The receiver's side: true when `header` signs `body` with `secret` within `toleranceMs` of `now`. */
export function verify(secret: string, header: string, body: string, now: number, toleranceMs = 300_000): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(now - t) > toleranceMs) return false;
  const expected = Buffer.from(sign(secret, t, body).slice(-64), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}
