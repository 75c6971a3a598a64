/**
 * The error catalogue: every deliberate error vigil raises has a stable code listed here and in
 * docs/errors.md (a test keeps the two in sync). Branch on `code`, never on `message`.
 */
export const ErrorCodes = {
  VIGIL_ERR_CONFIG_INVALID: 'a configuration value is invalid',
  VIGIL_ERR_CONFIG_UNKNOWN_KEY: 'the configuration holds a key vigil does not know',
  VIGIL_ERR_CHECKER_UNKNOWN_TYPE: 'no checker of this type is loaded',
  VIGIL_ERR_CHECKER_OPTION_INVALID: 'a checker option is missing, unknown or of the wrong type',
  VIGIL_ERR_PLUGIN_LOAD: 'a plugin could not be imported',
  VIGIL_ERR_PLUGIN_SHAPE: 'a plugin does not export a checker made with defineChecker',
  VIGIL_ERR_PLUGIN_DUPLICATE_TYPE: 'a plugin declares a checker type that is already loaded',
  VIGIL_ERR_SECRET_UNAVAILABLE: 'a secret (password) could not be read from its env var or file',
  VIGIL_ERR_REQUEST_INVALID: 'a request field is missing or invalid',
  VIGIL_ERR_REQUEST_BODY: 'the request body is not valid JSON',
  VIGIL_ERR_NOT_FOUND: 'the addressed resource does not exist',
  VIGIL_ERR_CONFLICT: 'the request conflicts with what exists (a service that exists or still has instances, an instance registered with the other ephemeral flag)',
  VIGIL_ERR_NOT_IMPLEMENTED: 'the path or method is not implemented (Nacos APIs vigil does not serve)',
  VIGIL_ERR_UNAUTHORIZED: 'the route needs a credential and the request carried none',
  VIGIL_ERR_STORE: 'the store failed to read or write',
  VIGIL_ERR_INTERNAL: 'an unexpected error (a bug); the log has the details',
  VIGIL_ERR_AUTH_INVALID: 'the credential is not valid: unknown token, user or password',
  VIGIL_ERR_AUTH_EXPIRED: 'the accessToken has expired; log in again',
  VIGIL_ERR_FORBIDDEN: 'the credential is valid but its role may not use this route',
  VIGIL_ERR_CHECKER_OPTION_FORBIDDEN: 'a checker option that reads a file or an environment variable arrived over the API (operator config only)',
  VIGIL_ERR_CREDENTIAL_UNKNOWN: 'a checker refers to a named credential the configuration does not define',
  VIGIL_ERR_STORE_SCHEMA: 'the shared database schema is newer than this node, or another node held the schema lock too long',
  VIGIL_ERR_CLUSTER_STALE_EPOCH: 'a health write carried a shard lease epoch that is no longer current (this node lost the shard)',
  VIGIL_ERR_CLUSTER_SUPERSEDED: 'a health write by the shard owner was older than the record stored (an operator decision written through another node); the owner keeps the shard and decides again on top of it',
  VIGIL_ERR_CLUSTER_UNAUTHORIZED: 'a peer request is not signed with the cluster secret, or this node was started with another secret than the cluster uses',
  VIGIL_ERR_CLUSTER_UNKNOWN_NODE: 'a peer request comes from a node id that is not a live admitted member',
  VIGIL_ERR_DATA_DIR_LOCKED: 'another running vigil holds the data directory (its lock file names the pid)',
  VIGIL_ERR_API_PORT_IN_USE: 'the API address (host and port) is taken by another process',
  VIGIL_ERR_RATE_LIMITED: 'a client sent more reads a second than server.readsPerSecond allows',
  VIGIL_ERR_LOGIN_RATE_LIMITED: 'a client failed to log in more often than server.loginFailuresPerMinute allows',
  VIGIL_ERR_EVENTS_FILTER: 'an event stream filter is unknown or invalid',
  VIGIL_ERR_EVENTS_LAST_ID: 'the Last-Event-ID of an event stream request is malformed',
  VIGIL_ERR_EVENTS_CLIENTS: 'the event stream already has as many clients as configured',
  VIGIL_ERR_WEBHOOK_CONFIG: 'a webhook configuration is invalid (duplicate name, unknown event type)',
  VIGIL_ERR_PRIMARY_NONE: 'no instance of the service is a healthy writable primary',
  VIGIL_ERR_PRIMARY_SPLIT_BRAIN: 'two or more instances of the service are writable (split brain)',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class VigilError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  override name = 'VigilError';

  constructor(code: ErrorCode, message: string, field?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.field = field;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isVigilError(err: unknown, code?: ErrorCode): err is VigilError {
  return err instanceof VigilError && (code === undefined || err.code === code);
}
