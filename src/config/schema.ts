/**
 * The one defaults object: every configuration option, its default and its unit (docs/configuration.md
 * lists the same, and a test keeps the two in step). Unknown keys are errors, at any depth.
 */
import { z } from 'zod';
import { passwordSourceShape, sourceCount } from '../security/secret-source.js';

const ms = z.number().int().positive();

const exactlyOnePassword = { error: 'give exactly one of password, passwordEnv, passwordFile', path: ['password'] };

/** A Nacos-style API user; `role` decides which routes it may use (docs/security.md). */
const userSchema = z
  .strictObject({
    username: z.string().min(1).max(128).regex(/^[^\s]+$/, 'no white space'),
    ...passwordSourceShape,
    role: z.enum(['read', 'write', 'admin']).default('write'),
  })
  .refine((u) => sourceCount(u) === 1, exactlyOnePassword);

/** A named credential for checkers (`credential: <name>`), sent only to targets inside `hosts`. */
const credentialSchema = z
  .strictObject({
    user: z.string().min(1).optional(),
    ...passwordSourceShape,
    /** IP addresses, CIDR networks or exact host names the secret may be sent to. */
    hosts: z.array(z.string().min(1)).min(1),
    /** PEM of the MySQL server's RSA public key: lets caching_sha2/sha256 full authentication run without TLS. */
    serverPublicKey: z.string().min(1).optional(),
    serverPublicKeyFile: z.string().min(1).optional(),
  })
  .refine((c) => sourceCount(c) <= 1, { error: 'give at most one of password, passwordEnv, passwordFile', path: ['password'] })
  .refine((c) => c.serverPublicKey === undefined || c.serverPublicKeyFile === undefined, {
    error: 'give serverPublicKey or serverPublicKeyFile, not both',
    path: ['serverPublicKey'],
  });
/** One webhook endpoint (docs/observability.md); the secret signs every delivery and is never shown. */
const webhookSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1-63 characters a-z 0-9 _ -'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** Exactly one of secret, secretEnv, secretFile (env and file are read once at start). */
  secret: z.string().min(16, 'must be at least 16 characters').optional(),
  secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  secretFile: z.string().min(1).optional(),
  events: z.array(z.string()).min(1).optional(),
  timeoutMs: ms.default(5000),
  maxAttempts: z.number().int().min(1).max(100).default(10),
  backoffMs: ms.default(500),
  maxBackoffMs: ms.default(60000),
  maxQueue: z.number().int().positive().default(10000),
}).refine((h) => [h.secret, h.secretEnv, h.secretFile].filter((v) => v !== undefined).length === 1, {
  error: 'give exactly one of secret, secretEnv, secretFile',
  path: ['secret'],
});

export const configSchema = z.strictObject({
  api: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8848),
      /** When set (or when `users` is not empty), every write must carry a credential. */
      token: z.string().min(1).optional(),
      /** Nacos-style users: `username`/`password` parameters or an accessToken from the login route. */
      users: z.array(userSchema).default([]),
      /** false: reads need a credential too. */
      anonymousReads: z.boolean().default(true),
      /** Lifetime of accessTokens from `POST /nacos/v1/auth/users/login` (Nacos: 18000 s). */
      tokenTtlMs: ms.default(18_000_000),
    })
    .prefault({})
    .refine((a) => new Set(a.users.map((u) => u.username)).size === a.users.length, { error: 'user names must be unique', path: ['users'] }),
  /** Named secrets for checkers; the API can refer to them by name but never read or change them. */
  credentials: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a credential name: letters, digits, . _ -'), credentialSchema).default({}),
  store: z
    .strictObject({
      dataDir: z.string().default('./vigil-data'),
      synchronous: z.enum(['full', 'normal']).default('full'),
      /** embedded: SQLite in dataDir, one node. mysql: the shared store of a cluster (`url`). */
      kind: z.enum(['embedded', 'mysql']).default('embedded'),
      /** mysql://user:pass@host:port/db; a secret, redacted in every output. */
      url: z.string().min(1).optional(),
      poolSize: z.number().int().min(2).max(64).default(6),
      queryTimeoutMs: ms.default(2000),
    })
    .prefault({})
    .refine((s) => s.kind !== 'mysql' || s.url !== undefined, { message: 'store.kind mysql needs store.url (mysql://user:pass@host:port/db)', path: ['url'] }),
  plugins: z.array(z.string()).default([]),
  checks: z
    .strictObject({
      enabled: z.boolean().default(true),
      checker: z
        .strictObject({ type: z.string().default('tcp'), options: z.record(z.string(), z.unknown()).default({}) })
        .prefault({}),
      intervalMs: ms.default(5000),
      timeoutMs: ms.default(2000),
      fastIntervalMs: ms.default(1000),
      downIntervalMs: ms.default(10000),
      jitter: z.number().min(0).max(0.5).default(0.1),
      rise: z.number().int().min(1).max(100).default(3),
      fall: z.number().int().min(1).max(100).default(3),
      initialHealthy: z.boolean().default(true),
      adaptive: z.boolean().default(false),
      maxConcurrent: z.number().int().positive().default(1024),
      perTypeConcurrency: z.record(z.string(), z.number().int().positive()).default({ mysql: 64 }),
      resourceIdleMs: ms.default(60000),
      /** Probe worker threads; 0 runs probes on the main thread; `auto`: one per core, at most 4, none on one core (health/probe-pool.ts). */
      workers: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
    })
    .prefault({})
    .refine((c) => c.timeoutMs < c.intervalMs, { message: 'must be shorter than checks.intervalMs', path: ['timeoutMs'] }),
  registry: z
    .strictObject({
      maxMetadataBytes: z.number().int().positive().default(4096),
    })
    .prefault({}),
  beat: z
    .strictObject({
      clientBeatIntervalMs: ms.default(5000),
      heartbeatTimeoutMs: ms.default(15000),
      deleteTimeoutMs: ms.default(30000),
      sweepIntervalMs: ms.default(1000),
      stallToleranceMs: z.number().int().min(0).default(250),
      lightBeatEnabled: z.boolean().default(true),
      expireInstance: z.boolean().default(true),
      selfPreservation: z
        .strictObject({
          enabled: z.boolean().default(true),
          minInstances: z.number().int().min(1).default(10),
          maxExpireFraction: z.number().min(0).max(1).default(0.25),
          renewalThreshold: z.number().min(0).max(1).default(0.85),
          windowMs: ms.default(15000),
          maxHoldMs: z.number().int().min(0).default(600000),
        })
        .prefault({}),
    })
    .prefault({})
    .refine((c) => c.clientBeatIntervalMs < c.heartbeatTimeoutMs, { message: 'must be shorter than beat.heartbeatTimeoutMs', path: ['clientBeatIntervalMs'] })
    .refine((c) => c.heartbeatTimeoutMs <= c.deleteTimeoutMs, { message: 'must not exceed beat.deleteTimeoutMs', path: ['heartbeatTimeoutMs'] })
    .refine((c) => c.sweepIntervalMs <= c.heartbeatTimeoutMs, { message: 'must not exceed beat.heartbeatTimeoutMs', path: ['sweepIntervalMs'] }),
  nacos: z
    .strictObject({
      enabled: z.boolean().default(true),
      cacheMillis: ms.default(10000),
      push: z
        .strictObject({
          enabled: z.boolean().default(true),
          subscriberTtlMs: ms.default(30000),
          ackTimeoutMs: ms.default(1000),
          retries: z.number().int().min(0).max(10).default(1),
          maxSubscribers: z.number().int().positive().default(10000),
          /** Subscriptions one client address may hold; beyond it the client is served but not pushed to. */
          maxSubscribersPerClient: z.number().int().positive().default(100),
          delayMs: z.number().int().min(0).default(20),
        })
        .prefault({}),
    })
    .prefault({}),
  runtime: z
    .strictObject({
      /** V8's size mode: about half the RSS per instance, more CPU on garbage collection. */
      optimizeForSize: z.boolean().default(false),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  /** Limits of the HTTP server, so slow or idle clients cannot hold its sockets (and descriptors) forever. */
  server: z
    .strictObject({
      requestTimeoutMs: ms.default(10000),
      headersTimeoutMs: ms.default(5000),
      keepAliveTimeoutMs: ms.default(65000),
      timeoutCheckIntervalMs: ms.default(1000),
      maxRequestsPerSocket: z.number().int().min(0).default(10000),
      maxConnections: z.number().int().positive().default(4096),
      reservedFds: z.number().int().min(0).default(256),
      /** GET requests a second per client address (admin credentials exempt); 0 turns the limit off. */
      readsPerSecond: z.number().int().min(0).default(1000),
      /** Failed logins a minute per client address before its logins are refused for the rest of the minute; 0: off. */
      loginFailuresPerMinute: z.number().int().min(0).default(10),
      listingConcurrency: z.number().int().min(1).max(64).default(2),
    })
    .prefault({})
    .refine((s) => s.headersTimeoutMs <= s.requestTimeoutMs, { message: 'must not exceed server.requestTimeoutMs', path: ['headersTimeoutMs'] }),
  /** Group commit of health changes (registrations are written before they are acknowledged). */
  persistence: z
    .strictObject({
      healthBatchMs: z.number().int().min(1).max(1000).default(20),
      healthMaxBatch: z.number().int().min(1).max(100000).default(1000),
    })
    .prefault({}),
  /** Several nodes on one MySQL store (docs/cluster.md); only with `store.kind: mysql`. */
  cluster: z
    .strictObject({
      nodeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a node id: letters, digits, . _ -').optional(),
      /** Also VIGIL_CLUSTER_SECRET (read by the CLI only). */
      secret: z.string().min(16).optional(),
      secretFile: z.string().min(1).optional(),
      memberTimeoutMs: ms.default(6000),
      advertiseUrl: z.url().optional(),
      leaseRenewMs: ms.default(1000),
      leaseMarginMs: ms.default(1000),
      pollMs: ms.default(1000),
      pollWindowMs: ms.default(5000),
      reconcileMs: ms.default(60000),
      tombstoneRetentionMs: ms.default(3600000),
      broadcastBatchMs: z.number().int().min(0).max(1000).default(0),
      peerTimeoutMs: ms.default(2000),
    })
    .prefault({})
    .refine((c) => c.secret === undefined || c.secretFile === undefined, { message: 'give cluster.secret or cluster.secretFile, not both', path: ['secret'] })
    // Lease timing (docs/cluster.md, "Leases with epochs"): memberTimeoutMs is also the lease TTL.
    // The first rule broken is the one reported, the most specific first.
    .refine((c) => c.leaseRenewMs < c.memberTimeoutMs, {
      message: 'must be below cluster.memberTimeoutMs (the lease TTL): a lease renewed less often than it lives lapses between two rounds',
      path: ['leaseRenewMs'],
    })
    .refine((c) => c.leaseMarginMs < c.memberTimeoutMs, { message: 'must be below cluster.memberTimeoutMs (the lease TTL): no lease would ever be trusted', path: ['leaseMarginMs'] })
    .refine((c) => c.leaseRenewMs + c.leaseMarginMs < c.memberTimeoutMs, { message: 'leaseRenewMs + leaseMarginMs must be below cluster.memberTimeoutMs', path: ['leaseRenewMs'] })
    .refine((c) => c.tombstoneRetentionMs > c.pollWindowMs, {
      message: 'must be above cluster.pollWindowMs: a deregistration purged before the poll window passed it would reach the other nodes only at their next reconcile',
      path: ['tombstoneRetentionMs'],
    }),
  /** Companion mode: an existing Nacos server is the registry of record; vigil probes its persistent instances. */
  source: z
    .strictObject({
      nacos: z
        .strictObject({
          /** `host:port[,host:port…]`; unset: vigil is the registry itself. */
          serverAddr: z.string().min(1).optional(),
          /** Namespace ids to read; unset: the ones the server lists (`GET /nacos/v1/console/namespaces`) at every poll. */
          namespaces: z.array(z.string().min(1)).min(1).optional(),
          groups: z.array(z.string().min(1)).min(1).default(['DEFAULT_GROUP']),
          username: z.string().min(1).optional(),
          ...passwordSourceShape,
          pollIntervalMs: ms.default(10000),
          requestTimeoutMs: ms.default(3000),
          maxRequestsPerSecond: z.number().positive().default(50),
          pageSize: z.number().int().min(1).max(10000).default(500),
          refusalRetryMs: ms.default(60000),
          /** Off: the server's view is the starting state and rise/fall apply (docs/companion.md, "The first probe"). */
          firstProbeDecides: z.boolean().default(false),
          /** Per service (`name` or `GROUP@@name`): any vigil checker config, plugins included. */
          services: z.record(z.string(), z.unknown()).default({}),
        })
        .prefault({})
        // No timeout-below-interval rule here: polls never overlap (the next starts after the last ended).
        .refine((c) => sourceCount(c) <= 1, { message: 'give at most one of password, passwordEnv, passwordFile', path: ['password'] })
        .refine((c) => sourceCount(c) === 0 || c.username !== undefined, { message: 'a password needs a username', path: ['username'] }),
    })
    .prefault({}),
  observe: z
    .strictObject({
      metrics: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** `vigil_instance_up{…}` per instance: one series each, so off by default and capped. */
          instanceSeries: z.boolean().default(false),
          maxInstanceSeries: z.number().int().positive().default(10000),
        })
        .prefault({}),
      events: z
        .strictObject({
          historySize: z.number().int().min(1).max(1_000_000).default(10000),
          maxClients: z.number().int().positive().default(1000),
          maxBufferedBytes: z.number().int().positive().default(1_048_576),
          keepAliveMs: ms.default(15000),
        })
        .prefault({}),
      webhooks: z.array(webhookSchema).default([]),
      history: z
        .strictObject({
          results: z.number().int().min(1).max(10000).default(100),
          days: z.number().int().min(1).max(366).default(30),
        })
        .prefault({}),
      statusPage: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
    })
    .prefault({}),
  primaries: z
    .strictObject({
      intervalMs: ms.default(1000),
      fastIntervalMs: ms.default(250),
      settleMs: ms.default(3000),
      holdMs: ms.default(60000),
      maxWaitMs: ms.max(600000).default(30000),
    })
    .prefault({})
    .refine((p) => p.fastIntervalMs <= p.intervalMs, { message: 'must not exceed primaries.intervalMs', path: ['fastIntervalMs'] }),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
