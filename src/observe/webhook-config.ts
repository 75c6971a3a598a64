/**
 * Webhook endpoints as the daemon uses them: names unique (they label metrics), event filters
 * naming real events, and the secret read once at start from the config, an environment variable
 * or a file. Errors name the dotted config key.
 */
import type { Config } from '../config/schema.js';
import { VigilError } from '../errors.js';
import { resolvePassword } from '../security/secret-source.js';
import { withField } from '../security/setup.js';
import { EVENT_TYPES } from './event-table.js';

type Configured = Config['observe']['webhooks'][number];

export type WebhookEndpoint = Omit<Configured, 'secret' | 'secretEnv' | 'secretFile'> & { readonly secret: string };

const MIN_SECRET = 16;

export function resolveWebhooks(hooks: readonly Configured[], env: NodeJS.ProcessEnv = process.env): WebhookEndpoint[] {
  const names = new Set<string>();
  return hooks.map((h, i) => {
    const at = `observe.webhooks.${i}`;
    if (names.has(h.name)) throw new VigilError('VIGIL_ERR_WEBHOOK_CONFIG', `webhook name "${h.name}" is used twice`, `${at}.name`);
    names.add(h.name);
    h.events?.forEach((t, j) => {
      if (!EVENT_TYPES.includes(t)) throw new VigilError('VIGIL_ERR_WEBHOOK_CONFIG', `unknown event type "${t}" (known: ${EVENT_TYPES.join(', ')})`, `${at}.events.${j}`);
    });
    const field = h.secretEnv !== undefined ? `${at}.secretEnv` : h.secretFile !== undefined ? `${at}.secretFile` : `${at}.secret`;
    const secret = withField(field, () => resolvePassword({ password: h.secret, passwordEnv: h.secretEnv, passwordFile: h.secretFile }, env)) ?? '';
    if (secret.length < MIN_SECRET) throw new VigilError('VIGIL_ERR_WEBHOOK_CONFIG', `the secret must be at least ${MIN_SECRET} characters`, field);
    const { secret: _inline, secretEnv: _env, secretFile: _file, ...rest } = h;
    return { ...rest, secret };
  });
}
