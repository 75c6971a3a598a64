/**
 * The one rule for names (namespace, group, service, cluster), wherever they arrive: the native
 * API, the Nacos API, whitelist entries. Same characters as Nacos allows in practice, bounded.
 */
export const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const NAME_RULE = 'must be 1-128 of A-Z a-z 0-9 _ . : -';

export function isName(s: unknown): s is string {
  return typeof s === 'string' && NAME_PATTERN.test(s);
}
