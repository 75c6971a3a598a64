/**
 * The Nacos v1 naming calls the companion makes, typed and checked: answers that do not have the
 * documented shape become `malformed` errors instead of wrong data. Authenticates every call,
 * retrying once after a fresh login when the server answers 403.
 */
import { z } from 'zod';
import { groupedName, type InstanceId } from '../registry/model.js';
import { createAuth, LOGIN_PATH, type Auth, type Credentials } from './auth.js';
import { NacosCallError, type HttpAnswer, type NacosHttp, type Params } from './http.js';

const NS = '/nacos/v1/ns';

const serviceListSchema = z.object({ count: z.number().int().min(0), doms: z.array(z.string()) });
const hostSchema = z.object({
  ip: z.string(),
  port: z.number().int(),
  healthy: z.boolean(),
  enabled: z.boolean().default(true),
  ephemeral: z.boolean().default(true),
  weight: z.number().default(1),
  clusterName: z.string().default('DEFAULT'),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
const instanceListSchema = z.object({ hosts: z.array(hostSchema).nullish(), reachProtectionThreshold: z.boolean().optional() });
const clusterSchema = z.looseObject({
  name: z.string(),
  healthChecker: z.looseObject({ type: z.string() }).nullish(),
});
const serviceSchema = z.object({ clusters: z.array(clusterSchema).nullish() });
/** `GET /nacos/v1/console/namespaces` (1.x and 2.x): the public namespace has the id "" (older) or "public". */
const namespacesSchema = z.object({ data: z.array(z.looseObject({ namespace: z.string().nullish() })) });

export type NacosHost = z.output<typeof hostSchema>;
export type NacosCluster = z.output<typeof clusterSchema>;

export interface ServiceRef {
  readonly namespace: string;
  readonly group: string;
  readonly service: string;
}

/** The naming API's id of the public namespace, which the console lists as "". */
export const PUBLIC_NAMESPACE = 'public';

export interface NacosClient {
  /** The server's namespace ids, in its order, the public one as `public`. */
  namespaces(): Promise<string[]>;
  listServices(namespace: string, group: string, pageNo: number, pageSize: number): Promise<{ count: number; doms: string[] }>;
  /** The service's clusters with their health checkers; undefined when the server does not know it. */
  service(ref: ServiceRef): Promise<NacosCluster[] | undefined>;
  /**
   * The service's hosts. `viewReliable` is false when the protect threshold is reached: Nacos then
   * shows every host healthy, whatever it holds.
   */
  instances(ref: ServiceRef): Promise<{ hosts: NacosHost[]; viewReliable: boolean }>;
  setHealth(id: InstanceId, healthy: boolean): Promise<void>;
  /** Sets one cluster's health checker, keeping its check port and metadata (Nacos resets what is not sent). */
  setClusterChecker(ref: ServiceRef, cluster: NacosCluster, healthChecker: object): Promise<void>;
  readonly auth: Auth;
  readonly http: NacosHttp;
}

function parse<T>(schema: z.ZodType<T>, answer: HttpAnswer, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(answer.text);
  } catch {
    throw new NacosCallError('malformed', `${what}: answer is not JSON: ${JSON.stringify(answer.text.slice(0, 60))}`, answer.server, answer.status);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new NacosCallError('malformed', `${what}: unexpected answer (${issue?.path.join('.') || 'body'}: ${issue?.message})`, answer.server, answer.status);
  }
  return r.data;
}

/** Nacos 1.x names them `defaultCheckPort`/`useIPPort4Check`, 2.x `healthyCheckPort`/`useInstancePortForCheck`. */
export function portsOf(c: NacosCluster): { checkPort?: number; useInstancePort4Check: boolean } {
  const port = c.healthyCheckPort ?? c.defaultCheckPort;
  const useInstance = c.useInstancePortForCheck ?? c.useIPPort4Check;
  return {
    ...(typeof port === 'number' && port >= 1 && port <= 65535 ? { checkPort: port } : {}),
    useInstancePort4Check: useInstance !== false,
  };
}

function refParams(ref: ServiceRef): Params {
  return { namespaceId: ref.namespace, serviceName: groupedName(ref), groupName: ref.group };
}

export function createNacosClient(http: NacosHttp, credentials: Credentials | undefined, now: () => number): NacosClient {
  const auth = createAuth({
    credentials,
    login: (c) => http.call('POST', LOGIN_PATH, { username: c.username, password: c.password }, true),
    now,
  });

  /** `path` below the naming API (`/service`), or absolute (`/nacos/v1/console/…`). */
  /** `refusedKind`: what a 401/403 of this call means (a refused login stays `auth` whatever the call). */
  async function send(method: 'GET' | 'PUT', path: string, params: Params, what: string, refusedKind: 'auth' | 'client-error' = 'auth'): Promise<HttpAnswer> {
    const full = path.startsWith('/nacos/') ? path : `${NS}${path}`;
    for (let attempt = 0; ; attempt++) {
      const authParams = await auth.params();
      const answer = await http.call(method, full, { ...params, ...authParams });
      if (answer.status < 400) return answer;
      if ((answer.status === 401 || answer.status === 403) && attempt === 0 && credentials) {
        auth.invalidate(authParams.accessToken);
        continue;
      }
      const kind = answer.status === 401 || answer.status === 403 ? refusedKind : answer.status >= 500 ? 'server-error' : 'client-error';
      throw new NacosCallError(kind, `${what} answered ${answer.status}: ${answer.text.slice(0, 120)}`, answer.server, answer.status, answer.text);
    }
  }

  return {
    async namespaces() {
      // A user may read naming but not the console: that refusal is about this call, not the credentials.
      let a: HttpAnswer;
      try {
        a = await send('GET', '/nacos/v1/console/namespaces', {}, 'console/namespaces', 'client-error');
      } catch (err) {
        // 501: a server that does not serve the console (a vigil registry); not an outage.
        if (err instanceof NacosCallError && err.status === 501) throw new NacosCallError('client-error', err.message, err.server, 501, err.body);
        throw err;
      }
      const ids = parse(namespacesSchema, a, 'console/namespaces').data.map((n) => (n.namespace ? n.namespace : PUBLIC_NAMESPACE));
      return [...new Set(ids)];
    },
    async listServices(namespace, group, pageNo, pageSize) {
      const a = await send('GET', '/service/list', { namespaceId: namespace, groupName: group, pageNo, pageSize }, 'service/list');
      return parse(serviceListSchema, a, 'service/list');
    },
    async service(ref) {
      try {
        const a = await send('GET', '/service', refParams(ref), 'service');
        return parse(serviceSchema, a, 'service').clusters ?? [];
      } catch (err) {
        // Listed a moment ago, gone now (or never created explicitly): no cluster settings to read.
        if (err instanceof NacosCallError && err.kind === 'client-error') return undefined;
        throw err;
      }
    },
    async instances(ref) {
      const a = await send('GET', '/instance/list', { ...refParams(ref), clusters: '', healthyOnly: false }, 'instance/list');
      const list = parse(instanceListSchema, a, 'instance/list');
      return { hosts: list.hosts ?? [], viewReliable: list.reachProtectionThreshold !== true };
    },
    async setHealth(id, healthy) {
      await send('PUT', '/health/instance', { ...refParams(id), clusterName: id.cluster, ip: id.ip, port: id.port, healthy }, 'health/instance');
    },
    async setClusterChecker(ref, cluster, healthChecker) {
      const ports = portsOf(cluster);
      const metadata = cluster.metadata ?? cluster.extendData;
      await send(
        'PUT',
        '/cluster',
        {
          ...refParams(ref),
          clusterName: cluster.name,
          healthChecker: JSON.stringify(healthChecker),
          checkPort: ports.checkPort ?? 80,
          useInstancePort4Check: ports.useInstancePort4Check,
          ...(metadata && typeof metadata === 'object' && Object.keys(metadata).length > 0 ? { metadata: JSON.stringify(metadata) } : {}),
        },
        'cluster',
      );
    },
    auth,
    http,
  };
}
