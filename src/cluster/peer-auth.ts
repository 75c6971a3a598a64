/**
 * The cluster secret, used three ways, none of which sends the secret itself anywhere:
 *
 * - peer requests (broadcasts) carry an HMAC-SHA256 over method, path, sender and body. There is
 *   no timestamp: comparing a sender's clock with ours is what this design avoids, and a replayed
 *   broadcast is harmless, since a copy that is not newer than what a node holds is ignored
 *   (stamp.ts);
 * - each member row carries a proof, HMAC(secret, node id): the others list a member alive only
 *   when its proof verifies, so a node started with another secret is never counted and gets no
 *   shards assigned;
 * - the database holds one cluster check, HMAC(secret, "cluster"), written by the first node: a node
 *   whose secret gives another value refuses to join at start, and says why.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const PEER_HEADERS = { node: 'x-vigil-node', signature: 'x-vigil-signature' } as const;

export interface PeerRequest {
  readonly method: string;
  readonly path: string;
  readonly body: string | Uint8Array;
}

export type PeerVerdict =
  | { readonly ok: true; readonly nodeId: string }
  | { readonly ok: false; readonly field: string; readonly message: string };

const hmac = (secret: string, text: string) => createHmac('sha256', secret).update(text, 'utf8').digest('hex');

function signingText(req: PeerRequest, nodeId: string): string {
  const digest = createHash('sha256').update(req.body).digest('hex');
  return [req.method.toUpperCase(), req.path, nodeId, digest].join('\n');
}

export function signPeerRequest(secret: string, nodeId: string, req: PeerRequest): Record<string, string> {
  return { [PEER_HEADERS.node]: nodeId, [PEER_HEADERS.signature]: hmac(secret, signingText(req, nodeId)) };
}

export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks a peer request's headers; `field` names the header that is missing or wrong. */
export function verifyPeerRequest(secret: string, headers: Readonly<Record<string, string | string[] | undefined>>, req: PeerRequest): PeerVerdict {
  const nodeId = headers[PEER_HEADERS.node];
  const signature = headers[PEER_HEADERS.signature];
  if (typeof nodeId !== 'string' || nodeId === '') return { ok: false, field: PEER_HEADERS.node, message: 'a peer request must name its node' };
  if (typeof signature !== 'string' || signature === '') return { ok: false, field: PEER_HEADERS.signature, message: 'a peer request must be signed with the cluster secret' };
  if (!sameHex(signature, hmac(secret, signingText(req, nodeId)))) {
    return { ok: false, field: PEER_HEADERS.signature, message: `the request from ${nodeId} is not signed with this cluster's secret` };
  }
  return { ok: true, nodeId };
}

/** What a member row carries to show it knows the secret. */
export function memberProof(secret: string, nodeId: string): string {
  return hmac(secret, `member\n${nodeId}`);
}

/** What the database keeps to tell a node with another secret at start-up. */
export function clusterCheck(secret: string): string {
  return hmac(secret, 'cluster');
}
