/**
 * Where a secret comes from in the operator's config: inline, an environment variable or a file.
 * Only the config file and the CLI may name a file or a variable: the daemon reads them once, at
 * start (or when a one-off CLI probe opens its connection). No API route can reach this code with
 * input of its own (checker configs from an API refuse these options, see registry/validate.ts).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { VigilError } from '../errors.js';

const MAX_SECRET_FILE_BYTES = 64 * 1024;

export const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** `password` | `passwordEnv` | `passwordFile`, at most one (a refine on the object adds "exactly one" where needed). */
export const passwordSourceShape = {
  password: z.string().min(1).optional(),
  passwordEnv: envNameSchema.optional(),
  passwordFile: z.string().min(1).optional(),
};

export interface PasswordSource {
  readonly password?: string | undefined;
  readonly passwordEnv?: string | undefined;
  readonly passwordFile?: string | undefined;
}

export function sourceCount(s: PasswordSource): number {
  return [s.password, s.passwordEnv, s.passwordFile].filter((v) => v !== undefined).length;
}

/**
 * The secret's value, or undefined when no source is given. Errors name the source (the variable
 * or the path), never a value. `env` is injected so tests and the daemon pass their own.
 */
export function resolvePassword(s: PasswordSource, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (s.passwordEnv !== undefined) {
    const value = env[s.passwordEnv];
    if (!value) throw new VigilError('VIGIL_ERR_SECRET_UNAVAILABLE', `environment variable ${s.passwordEnv} is not set or empty`, 'passwordEnv');
    return value;
  }
  if (s.passwordFile !== undefined) {
    let buf: Buffer;
    try {
      buf = readFileSync(s.passwordFile);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new VigilError('VIGIL_ERR_SECRET_UNAVAILABLE', `password file ${s.passwordFile} cannot be read (${String(code ?? 'error')})`, 'passwordFile');
    }
    if (buf.length > MAX_SECRET_FILE_BYTES) {
      throw new VigilError('VIGIL_ERR_SECRET_UNAVAILABLE', `password file ${s.passwordFile} is larger than ${MAX_SECRET_FILE_BYTES} bytes`, 'passwordFile');
    }
    return buf.toString('utf8').replace(/\r?\n$/, '');
  }
  return s.password;
}
