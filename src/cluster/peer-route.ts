/**
 * The receiving end of broadcasts: `POST /v1/cluster/changes`. In order, and before anything is
 * applied: the signature (cluster secret), the sender (a live admitted member by the latest view),
 * the body (JSON, then the message schema), then the epochs (a copy under an epoch older than the
 * shard's latest one this node has seen is a stale writer's: 409, nothing applied). Then only copies
 * newer than what this node holds are applied (stamps). Every refusal is a 4xx with a stable code and is reported once per sender and
 * reason, so a misconfigured peer does not flood the log.
 *
 * Access `public`: peers hold no API credential; this route authenticates with its own signature.
 */
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from '../api/access.js';
import { VigilError, type ErrorCode } from '../errors.js';
import { newerHealth, type ChangeSink } from './change-poller.js';
import { parsePeerChanges, type PeerChange } from './peer-changes.js';
import { verifyPeerRequest } from './peer-auth.js';
import type { StageTimings } from './stage-timings.js';

export const PEER_CHANGES_PATH = '/v1/cluster/changes';

export interface PeerRefusal {
  readonly code: ErrorCode;
  readonly field: string;
  readonly nodeId?: string;
  readonly message: string;
}

export interface PeerRouteDeps {
  readonly secret: string;
  /** Whether `nodeId` is a live, admitted member in this node's latest view. */
  isMember(nodeId: string): boolean;
  readonly sink: Pick<ChangeSink, 'stampOf' | 'applyHealth'>;
  /**
   * The newest lease epoch this node has seen for the shard of `key` (its latest round). A copy
   * under an older epoch comes from a node that has lost the shard: the request is refused whole.
   */
  readonly knownEpoch?: (key: string) => number | undefined;
  /** Called once per (sender, code): log it. */
  readonly onRefused?: (refusal: PeerRefusal) => void;
  /** Where the stages `decidedToReceived` and `receivedToApplied` are recorded. */
  readonly timings?: StageTimings;
}

function record(timings: StageTimings, applied: readonly PeerChange[], receivedAt: number): void {
  const wall = Date.now() - (performance.now() - receivedAt);
  for (const c of applied) {
    const probe = c.health.lastProbe;
    if (probe && c.health.health.decidedBy === 'checker') timings.record('decidedToReceived', wall - (probe.startedAt + probe.latencyMs));
  }
  timings.record('receivedToApplied', performance.now() - receivedAt);
}

export function registerPeerRoutes(app: FastifyInstance, deps: PeerRouteDeps): void {
  const reported = new Set<string>();
  const refuse = (code: ErrorCode, field: string, message: string, nodeId?: string): VigilError => {
    const once = `${code}\n${nodeId ?? ''}`;
    if (!reported.has(once)) {
      reported.add(once);
      deps.onRefused?.(nodeId === undefined ? { code, field, message } : { code, field, message, nodeId });
    }
    return new VigilError(code, message, field);
  };

  void app.register(async (scope) => {
    // The signature covers the exact bytes, so this route reads its body as text and parses it itself.
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post(PEER_CHANGES_PATH, PUBLIC, async (req) => {
      const receivedAt = performance.now();
      const raw = typeof req.body === 'string' ? req.body : '';
      const verdict = verifyPeerRequest(deps.secret, req.headers, { method: 'POST', path: PEER_CHANGES_PATH, body: raw });
      if (!verdict.ok) throw refuse('VIGIL_ERR_CLUSTER_UNAUTHORIZED', verdict.field, verdict.message);
      const { nodeId } = verdict;
      if (!deps.isMember(nodeId)) {
        throw refuse('VIGIL_ERR_CLUSTER_UNKNOWN_NODE', 'x-vigil-node', `${nodeId} is not a live member of this cluster`, nodeId);
      }
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        throw refuse('VIGIL_ERR_REQUEST_BODY', 'body', 'the request body is not valid JSON', nodeId);
      }
      let changes;
      try {
        changes = parsePeerChanges(body);
      } catch (err) {
        const e = err as VigilError;
        throw refuse(e.code, e.field ?? 'body', e.message, nodeId);
      }
      const stale = changes.findIndex((c) => c.epoch < (deps.knownEpoch?.(c.key) ?? 0));
      if (stale >= 0) {
        const c = changes[stale]!;
        throw refuse('VIGIL_ERR_CLUSTER_STALE_EPOCH', `changes.${stale}.epoch`, `${c.key} at epoch ${c.epoch}: the shard's lease has moved on to epoch ${deps.knownEpoch?.(c.key)}`, nodeId);
      }
      const fresh = newerHealth(changes.map((c) => ({ ...c, updatedAt: 0 })), (k) => deps.sink.stampOf(k));
      for (const row of fresh) deps.sink.applyHealth(row);
      if (deps.timings) record(deps.timings, fresh, receivedAt);
      return { applied: fresh.length, ignored: changes.length - fresh.length };
    });
  });
}
