/**
 * One poll of the Nacos server: every namespace (configured, or else listed by the server's
 * `console/namespaces`) and every configured group, `service/list` page by page,
 * then per service its clusters (`GET service`, for their health checkers) and its instances
 * (`instance/list`, healthyOnly=false). Ephemeral instances are skipped here and nowhere else
 * looked at again. A network failure ends the poll (the server is down: the caller freezes
 * writes); a malformed or refused answer for one service is reported and only that service kept
 * as it was.
 */
import pLimit from 'p-limit';
import { instanceKey, serviceKey, splitServiceName, type InstanceId, type ServiceId } from '../registry/model.js';
import type { CheckerMapping } from './checker-mapping.js';
import type { Discovered, PollSnapshot } from './diff.js';
import { NacosCallError } from './http.js';
import { PUBLIC_NAMESPACE, type NacosClient, type NacosCluster } from './nacos-client.js';

export interface DiscoveryOptions {
  /** Undefined: ask the server for its namespaces at every poll. */
  readonly namespaces: readonly string[] | undefined;
  /** Read when the server cannot list its namespaces (the last list it gave, or `public`). */
  readonly knownNamespaces?: readonly string[];
  readonly groups: readonly string[];
  readonly pageSize: number;
  /** Services read at once; the rate limiter bounds the requests per second anyway. */
  readonly concurrency?: number;
}

export interface ServiceProblem {
  readonly service: string;
  readonly error: NacosCallError;
}

export interface NamespacesRead {
  readonly ids: readonly string[];
  readonly from: 'config' | 'server' | 'fallback';
  /** Why the server's list could not be used (`from: 'fallback'`); undefined when it does not serve one. */
  readonly problem?: NacosCallError;
}

export interface PollOutcome extends PollSnapshot {
  readonly namespaces: NamespacesRead;
  readonly services: number;
  /** Clusters seen, by scope key, with their declared checker type. */
  readonly clusters: ReadonlyMap<string, string>;
  readonly problems: readonly ServiceProblem[];
}

/** Errors that mean "the server is not answering": they end the poll instead of skipping a service. */
export function isOutage(err: unknown): err is NacosCallError {
  return err instanceof NacosCallError && (err.kind === 'unreachable' || err.kind === 'timeout' || err.kind === 'server-error' || err.kind === 'auth');
}

function stringMetadata(m: Readonly<Record<string, unknown>> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

async function listAll(client: NacosClient, namespace: string, group: string, pageSize: number): Promise<string[]> {
  const names: string[] = [];
  for (let page = 1; ; page++) {
    const { count, doms } = await client.listServices(namespace, group, page, pageSize);
    names.push(...doms);
    if (doms.length === 0 || names.length >= count || doms.length < pageSize) return names;
  }
}

/**
 * The namespaces to read. A server down ends the poll as any other call would; a server that does
 * not serve the list (404, 501: older servers, a vigil registry) means its public namespace only;
 * a refused or malformed list keeps the last one read, reported by the caller.
 */
export async function namespacesToRead(client: NacosClient, opts: DiscoveryOptions): Promise<NamespacesRead> {
  if (opts.namespaces) return { ids: opts.namespaces, from: 'config' };
  try {
    const ids = await client.namespaces();
    if (ids.length > 0) return { ids, from: 'server' };
  } catch (err) {
    if (isOutage(err) || !(err instanceof NacosCallError)) throw err;
    const ids = opts.knownNamespaces ?? [PUBLIC_NAMESPACE];
    return err.status === 404 || err.status === 501 ? { ids, from: 'fallback' } : { ids, from: 'fallback', problem: err };
  }
  return { ids: [PUBLIC_NAMESPACE], from: 'fallback' };
}

export async function pollServer(client: NacosClient, mapping: CheckerMapping, opts: DiscoveryOptions): Promise<PollOutcome> {
  const instances = new Map<string, Discovered>();
  const failedServices = new Set<string>();
  const clusters = new Map<string, string>();
  const problems: ServiceProblem[] = [];
  const refs: ServiceId[] = [];
  const namespaces = await namespacesToRead(client, opts);
  for (const namespace of namespaces.ids) {
    for (const group of opts.groups) {
      for (const name of await listAll(client, namespace, group, opts.pageSize)) {
        const s = splitServiceName(name, group);
        refs.push({ namespace, group: s.group, service: s.service });
      }
    }
  }

  const limit = pLimit(opts.concurrency ?? 4);
  await Promise.all(
    refs.map((ref) =>
      limit(async () => {
        let clusterList: NacosCluster[] | undefined;
        let list;
        try {
          clusterList = await client.service(ref);
          list = await client.instances(ref);
        } catch (err) {
          if (isOutage(err) || !(err instanceof NacosCallError)) {
            // The server is down: do not send the rest of this poll's requests into it.
            limit.clearQueue();
            throw err;
          }
          failedServices.add(serviceKey(ref));
          problems.push({ service: serviceKey(ref), error: err });
          return;
        }
        const byName = new Map((clusterList ?? []).map((c) => [c.name, c]));
        for (const h of list.hosts) {
          if (h.ephemeral) continue;
          const id: InstanceId = { ...ref, cluster: h.clusterName, ip: h.ip, port: h.port };
          const nacosCluster = byName.get(h.clusterName);
          const checker = mapping.map(ref, h.clusterName, nacosCluster);
          clusters.set(`${serviceKey(ref)}/${h.clusterName}`, checker.declared);
          const key = instanceKey(id);
          instances.set(key, { key, id, serverHealthy: h.healthy, serverViewReliable: list.viewReliable, weight: h.weight, enabled: h.enabled, metadata: stringMetadata(h.metadata), checker });
        }
      }),
    ),
  );
  return { instances, failedServices, complete: true, namespaces, services: refs.length, clusters, problems };
}
