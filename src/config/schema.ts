/**
 * The one defaults object: every configuration option, its default and its unit (docs/configuration.md
 * lists the same, and a test keeps the two in step). Unknown keys are errors, at any depth.
 */
import { z } from 'zod';

const ms = z.number().int().positive();

export const configSchema = z.strictObject({
  api: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8848),
      /** When set, every write must carry `Authorization: Bearer <token>`. */
      token: z.string().min(1).optional(),
    })
    .prefault({}),
  store: z
    .strictObject({
      dataDir: z.string().default('./vigil-data'),
      synchronous: z.enum(['full', 'normal']).default('full'),
    })
    .prefault({}),
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
  /** Companion mode: an existing Nacos server is the registry of record; vigil probes its persistent instances. */
  source: z
    .strictObject({
      nacos: z
        .strictObject({
          /** `host:port[,host:port…]`; unset: vigil is the registry itself. */
          serverAddr: z.string().min(1).optional(),
          namespaces: z.array(z.string().min(1)).min(1).default(['public']),
          groups: z.array(z.string().min(1)).min(1).default(['DEFAULT_GROUP']),
          username: z.string().min(1).optional(),
          password: z.string().optional(),
          passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
          pollIntervalMs: ms.default(10000),
          requestTimeoutMs: ms.default(3000),
          maxRequestsPerSecond: z.number().positive().default(50),
          pageSize: z.number().int().min(1).max(10000).default(500),
          refusalRetryMs: ms.default(60000),
          firstProbeDecides: z.boolean().default(true),
          /** Per service (`name` or `GROUP@@name`): any vigil checker config, plugins included. */
          services: z.record(z.string(), z.unknown()).default({}),
        })
        .prefault({})
        // No timeout-below-interval rule here: polls never overlap (the next starts after the last ended).
        .refine((c) => c.password === undefined || c.passwordEnv === undefined, { message: 'give at most one of password, passwordEnv', path: ['passwordEnv'] }),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
