import { describe, expect, it } from 'vitest';
import { defineChecker, isVigilError, z, type VigilError } from 'vigil';
import { createCheckerRegistry } from '../../src/health/checker-registry.js';
import { optionsFromPairs, redactOptions } from '../../src/health/options.js';

const ok = async () => ({ status: 'ok', reason: 'connected' }) as const;

const tcp = defineChecker({ type: 'tcp', options: z.strictObject({}), check: ok });

const web = defineChecker({
  type: 'web',
  description: 'a test checker with every kind of option',
  secretOptions: ['token'],
  options: z.strictObject({
    path: z.string().default('/'),
    expectStatus: z.array(z.number().int()).default([200]),
    keepAlive: z.boolean().default(true),
    token: z.string().optional(),
    tls: z.strictObject({ verify: z.boolean().default(true) }).default({ verify: true }),
  }),
  check: ok,
});

function thrown(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('checker registry: loading', () => {
  it('lists built-ins and added checkers with their source, in load order', () => {
    const registry = createCheckerRegistry([tcp]);
    registry.add(web, 'plugin ./web.js');
    expect(registry.types()).toEqual(['tcp', 'web']);
    expect(registry.list().map((l) => [l.checker.type, l.source])).toEqual([
      ['tcp', 'builtin'],
      ['web', 'plugin ./web.js'],
    ]);
    expect(registry.get('web')).toBe(web);
    expect(registry.has('web')).toBe(true);
    expect(registry.has('nope')).toBe(false);
  });

  it('refuses a duplicate type with VIGIL_ERR_PLUGIN_DUPLICATE_TYPE naming both sources', () => {
    const registry = createCheckerRegistry([tcp]);
    const again = defineChecker({ type: 'tcp', options: z.strictObject({}), check: ok });
    const err = thrown(() => registry.add(again, 'plugin ./my-tcp.js'));
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_DUPLICATE_TYPE');
    expect(err.field).toBe('plugins');
    expect(err.message).toContain('plugin ./my-tcp.js');
    expect(err.message).toContain('builtin');
    expect(registry.get('tcp')).toBe(tcp);
  });

  it('refuses duplicates among the built-ins themselves', () => {
    expect(thrown(() => createCheckerRegistry([tcp, tcp])).code).toBe('VIGIL_ERR_PLUGIN_DUPLICATE_TYPE');
  });

  it.each([
    ['a plain object shaped like a checker', { type: 'x', options: z.strictObject({}), check: ok }],
    ['undefined', undefined],
    ['a function', ok],
    ['a string', 'tcp'],
  ])('refuses %s with VIGIL_ERR_PLUGIN_SHAPE naming the source', (_name, value) => {
    const registry = createCheckerRegistry();
    const err = thrown(() => registry.add(value, 'plugin vigil-plugin-bad'));
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_SHAPE');
    expect(err.message).toContain('plugin vigil-plugin-bad');
    expect(registry.types()).toEqual([]);
  });

  it('answers VIGIL_ERR_CHECKER_UNKNOWN_TYPE with field type, listing what is loaded', () => {
    const registry = createCheckerRegistry([tcp, web]);
    const err = thrown(() => registry.get('redis'));
    expect(err.code).toBe('VIGIL_ERR_CHECKER_UNKNOWN_TYPE');
    expect(err.field).toBe('type');
    expect(err.message).toContain('"redis"');
    expect(err.message).toContain('tcp, web');
    expect(thrown(() => registry.parseOptions('redis', {})).code).toBe('VIGIL_ERR_CHECKER_UNKNOWN_TYPE');
    expect(thrown(() => registry.describe('redis')).code).toBe('VIGIL_ERR_CHECKER_UNKNOWN_TYPE');
  });
});

describe('checker registry: parseOptions', () => {
  const registry = createCheckerRegistry([tcp, web]);

  it('applies the defaults held by the schema', () => {
    expect(registry.parseOptions('web', {})).toEqual({ path: '/', expectStatus: [200], keepAlive: true, tls: { verify: true } });
    expect(registry.parseOptions('web', undefined)).toEqual(registry.parseOptions('web', {}));
    expect(registry.parseOptions('web', { path: '/health', tls: {} })).toMatchObject({ path: '/health', tls: { verify: true } });
  });

  it('freezes the result deeply', () => {
    const options = registry.parseOptions('web', { expectStatus: [200, 204] }) as {
      expectStatus: number[];
      tls: { verify: boolean };
    };
    expect(Object.isFrozen(options)).toBe(true);
    expect(Object.isFrozen(options.expectStatus)).toBe(true);
    expect(Object.isFrozen(options.tls)).toBe(true);
    expect(() => options.expectStatus.push(500)).toThrow(TypeError);
  });

  it('refuses an unknown option with VIGIL_ERR_CHECKER_OPTION_INVALID naming options.<key>', () => {
    const err = thrown(() => registry.parseOptions('web', { pathh: '/x' }));
    expect(err.code).toBe('VIGIL_ERR_CHECKER_OPTION_INVALID');
    expect(err.field).toBe('options.pathh');
    expect(err.message).toContain('web checker');
  });

  it('refuses an option of the wrong type naming its field, nested ones by dotted path', () => {
    expect(thrown(() => registry.parseOptions('web', { keepAlive: 'yes' })).field).toBe('options.keepAlive');
    expect(thrown(() => registry.parseOptions('web', { expectStatus: [200, 'x'] })).field).toBe('options.expectStatus.1');
    expect(thrown(() => registry.parseOptions('web', { tls: { verify: 1 } })).field).toBe('options.tls.verify');
    expect(thrown(() => registry.parseOptions('web', { tls: { verifyy: true } })).field).toBe('options.tls.verifyy');
  });

  it('names the field under a caller-given prefix', () => {
    const err = thrown(() => registry.parseOptions('web', { nope: 1 }, 'clusters.DEFAULT.checker.options'));
    expect(err.field).toBe('clusters.DEFAULT.checker.options.nope');
  });

  it('refuses options that are not an object', () => {
    const err = thrown(() => registry.parseOptions('web', 'path=/'));
    expect(err.code).toBe('VIGIL_ERR_CHECKER_OPTION_INVALID');
    expect(err.field).toBe('options');
  });

  it('accepts k=v pairs from the command line, with JSON values typed', () => {
    const raw = optionsFromPairs(['path=/ready', 'keepAlive=false', 'expectStatus=[200,204]', 'tls.verify=false']);
    expect(registry.parseOptions('web', raw)).toEqual({
      path: '/ready',
      keepAlive: false,
      expectStatus: [200, 204],
      tls: { verify: false },
    });
    expect(thrown(() => optionsFromPairs(['path'])).code).toBe('VIGIL_ERR_CHECKER_OPTION_INVALID');
  });

  it('keeps numeric-looking text as a string for an option that takes only strings', () => {
    const schema = registry.describe('web');
    expect(optionsFromPairs(['token=123', 'path=1e3'], schema)).toEqual({ token: '123', path: '1e3' });
    expect(registry.parseOptions('web', optionsFromPairs(['token=123'], schema))).toMatchObject({ token: '123' });
    // Options that are not strings are still typed from JSON.
    expect(optionsFromPairs(['keepAlive=false', 'expectStatus=[200,204]', 'tls.verify=false'], schema)).toEqual({
      keepAlive: false,
      expectStatus: [200, 204],
      tls: { verify: false },
    });
  });

  it('takes backslashes literally in a plain string, and JSON-decodes a value in double quotes', () => {
    const schema = registry.describe('web');
    expect(optionsFromPairs(['path=PING\\r\\n'], schema)).toEqual({ path: 'PING\\r\\n' });
    expect(optionsFromPairs(['path="PING\\r\\n"'], schema)).toEqual({ path: 'PING\r\n' });
    expect(optionsFromPairs(['path="true"', 'token="'], schema)).toEqual({ path: 'true', token: '"' });
    // Quoted but not valid JSON: the text as given.
    expect(optionsFromPairs(['path="a\\q"'], schema)).toEqual({ path: '"a\\q"' });
  });

  it('decides string-only per key, through nesting, unions and enums', () => {
    const schema = z.toJSONSchema(
      z.strictObject({
        mode: z.enum(['1', '2']),
        name: z.union([z.string().min(1), z.literal('auto')]),
        either: z.union([z.number(), z.string()]),
        maybe: z.string().nullable(),
        flag: z.boolean(),
        tls: z.strictObject({ ca: z.string(), verify: z.boolean() }),
      }),
      { io: 'input' },
    );
    const pairs = ['mode=1', 'name=42', 'either=42', 'maybe=null', 'flag=yes', 'tls.ca=007', 'tls.verify=true'];
    expect(optionsFromPairs(pairs, schema)).toEqual({
      mode: '1',
      name: '42',
      either: 42,
      maybe: null,
      flag: 'yes',
      tls: { ca: '007', verify: true },
    });
  });

  it('types every JSON value when no schema is given, and keys the schema does not know', () => {
    expect(optionsFromPairs(['token=123', 'n=1e3', 's=abc'])).toEqual({ token: 123, n: 1000, s: 'abc' });
    expect(optionsFromPairs(['unknown=5', 'hasOwnProperty=5'], registry.describe('web'))).toEqual({
      unknown: 5,
      hasOwnProperty: 5,
    });
  });

  it.each([
    ['__proto__.polluted=1', '__proto__.polluted'],
    ['constructor.prototype.polluted=1', 'constructor.prototype.polluted'],
    ['tls.__proto__.polluted=1', 'tls.__proto__.polluted'],
    ['__proto__={"polluted":1}', '__proto__'],
    ['prototype=1', 'prototype'],
    ['a..b=1', 'a..b'],
    ['.a=1', '.a'],
    ['a.=1', 'a.'],
  ])('refuses the key of %s with VIGIL_ERR_CHECKER_OPTION_INVALID naming it', (pair, key) => {
    const err = thrown(() => optionsFromPairs([pair]));
    expect(err.code).toBe('VIGIL_ERR_CHECKER_OPTION_INVALID');
    expect(err.message).toContain(`"${key}"`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('refuses a dotted key under an option already set to a value', () => {
    for (const pairs of [['send=1', 'send.x=2'], ['send=abc', 'send.x=2'], ['send=[1]', 'send.0=2'], ['send=null', 'send.x=2']]) {
      const err = thrown(() => optionsFromPairs(pairs));
      expect(err.code).toBe('VIGIL_ERR_CHECKER_OPTION_INVALID');
      expect(err.message).toContain('"send.');
    }
    // The value already set may be a secret: the message must not echo it.
    expect(thrown(() => optionsFromPairs(['token=s3cret', 'token.x=1'])).message).not.toContain('s3cret');
  });

  it('nests dotted keys into an object given as JSON, and the last of a repeated key wins', () => {
    expect(optionsFromPairs(['tls={"verify":false}', 'tls.ca=x'])).toEqual({ tls: { verify: false, ca: 'x' } });
    expect(optionsFromPairs(['path=/a', 'path=/b'])).toEqual({ path: '/b' });
    expect(optionsFromPairs(['toString.x=1'])).toEqual({ toString: { x: 1 } });
  });

  it('redacts secret options for output', () => {
    const options = registry.parseOptions('web', { token: 's3cret' });
    expect(redactOptions(web, options)).toMatchObject({ token: '***', path: '/' });
    expect(JSON.stringify(redactOptions(web, options))).not.toContain('s3cret');
    expect(redactOptions(web, registry.parseOptions('web', {}))).not.toHaveProperty('token');
  });
});

describe('checker registry: describe', () => {
  it('returns a JSON schema of the options with their defaults', () => {
    const schema = createCheckerRegistry([web]).describe('web') as {
      type: string;
      properties: Record<string, { type?: string; default?: unknown }>;
      additionalProperties: boolean;
      required?: string[];
    };
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(['path', 'expectStatus', 'keepAlive', 'token', 'tls']);
    expect(schema.properties.path).toMatchObject({ type: 'string', default: '/' });
    expect(schema.properties.expectStatus).toMatchObject({ type: 'array', default: [200] });
    expect(schema.properties.keepAlive).toMatchObject({ type: 'boolean', default: true });
    expect(schema.properties.token).toMatchObject({ type: 'string' });
    // Input schema: options with defaults are not required of the user.
    expect(schema.required ?? []).toEqual([]);
    expect(() => JSON.stringify(schema)).not.toThrow();
  });
});

describe('defineChecker', () => {
  it('refuses a malformed definition at once', () => {
    const options = z.strictObject({});
    expect(() => defineChecker({ type: 'Bad Type', options, check: ok })).toThrow(TypeError);
    expect(() => defineChecker({ type: 'x', options, check: undefined as never })).toThrow(/check must be a function/);
    expect(() => defineChecker({ type: 'x', options: {} as never, check: ok })).toThrow(/zod schema/);
  });

  it('returns a frozen, branded checker', () => {
    expect(Object.isFrozen(web)).toBe(true);
    expect((web as unknown as Record<symbol, unknown>)[Symbol.for('vigil.checker')]).toBe(true);
  });
});
