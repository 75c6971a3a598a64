import { describe, expect, it } from 'vitest';
import { bool, clusterList, documentSchemas, INSTANCE, serviceOf, weight } from '../../src/nacos/param-schemas.js';
import { readParams } from '../../src/nacos/params.js';

const docs = documentSchemas({ maxMetadataBytes: 4096 });
const refused = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('not refused');
};

describe('nacos parameters', () => {
  it('reads grouped and ungrouped service names', () => {
    expect(serviceOf({ serviceName: 'G1@@svc' })).toEqual({ namespace: 'public', group: 'G1', service: 'svc', raw: 'G1@@svc' });
    expect(serviceOf({ serviceName: 'svc' })).toEqual({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', raw: 'svc' });
    expect(serviceOf({ serviceName: 'svc', groupName: 'G2', namespaceId: 'dev' })).toEqual({ namespace: 'dev', group: 'G2', service: 'svc', raw: 'svc' });
    expect(() => serviceOf({ serviceName: '@@svc' })).toThrow(/'serviceName'/);
  });

  it('reads metadata as JSON or as k=v pairs', () => {
    const md = (metadata: string) => readParams({ metadata }, { metadata: docs.metadata }).metadata;
    expect(md('{"a":"1","b":2,"c":true}')).toEqual({ a: '1', b: '2', c: 'true' });
    expect(md('a=1, b=x=y')).toEqual({ a: '1', b: 'x=y' });
    expect(() => md('{"a":{"b":1}}')).toThrow(/'metadata'/);
    expect(() => md('novalue')).toThrow(/'metadata'/);
  });

  it('checks every parameter in the order declared, a blank one counting as absent', () => {
    expect(refused(() => readParams({ ip: '1.2.3.4', port: '1' }, INSTANCE))).toBe("Param 'serviceName' is required.");
    expect(refused(() => readParams({ serviceName: 's', ip: '  ', port: 'x' }, INSTANCE))).toBe("Param 'ip' is required.");
    expect(readParams({ serviceName: 's', ip: '::1', port: '80', clusterName: '' }, INSTANCE)).toMatchObject({ clusterName: 'DEFAULT', ip: '::1', port: 80 });
  });

  it('reads the beat JSON the npm client sends, with or without metadata, weight and cluster', () => {
    const read = (beat: object) => readParams({ beat: JSON.stringify(beat) }, { beat: docs.beat }).beat;
    expect(read({ serviceName: 'G@@s', ip: '10.0.0.1', port: 8080, cluster: 'C1', weight: 2, metadata: { a: 1 }, scheduled: true })).toEqual({ ip: '10.0.0.1', port: 8080, cluster: 'C1', weight: 2, metadata: { a: '1' } });
    expect(read({ ip: '10.0.0.1', port: '8080' })).toEqual({ ip: '10.0.0.1', port: 8080, cluster: 'DEFAULT', weight: undefined, metadata: undefined });
    expect(read({ ip: '::1', port: 1, cluster: null, weight: null, metadata: null })).toEqual({ ip: '::1', port: 1, cluster: 'DEFAULT', weight: undefined, metadata: {} });
    expect(refused(() => read({ ip: '10.0.0.1', port: 8080, cluster: 'bad cluster' }))).toMatch(/^Param 'beat' is invalid: cluster must be 1-128/);
    expect(refused(() => read({ ip: 5, port: 8080 }))).toBe("Param 'beat' is invalid: ip must be an IPv4 or IPv6 address.");
  });

  it('echoes a bad scalar value, cut short, but never a JSON document', () => {
    expect(refused(() => readParams({ flag: 'maybe' }, { flag: bool }))).toBe(`Param 'flag' is invalid: must be true or false, got "maybe".`);
    expect(refused(() => readParams({ metadata: '{"password":"hunter2"' }, { metadata: docs.metadata }))).toBe("Param 'metadata' is invalid: not valid JSON.");
  });
});

describe('nacos parameters: every field is bounded', () => {
  const long = (n: number) => 'a'.repeat(n);
  it.each([
    ['serviceName', { serviceName: long(129) }, INSTANCE],
    ['serviceName', { serviceName: `${long(129)}@@svc` }, INSTANCE],
    ['serviceName', { serviceName: long(300) }, INSTANCE],
    ['groupName', { serviceName: 's', groupName: long(129) }, INSTANCE],
    ['namespaceId', { serviceName: 's', namespaceId: long(129) }, INSTANCE],
    ['clusterName', { serviceName: 's', clusterName: long(129) }, INSTANCE],
    ['ip', { serviceName: 's', ip: `1.2.3.4${long(100)}` }, INSTANCE],
    ['port', { serviceName: 's', ip: '1.2.3.4', port: '0' }, INSTANCE],
    ['port', { serviceName: 's', ip: '1.2.3.4', port: '65536' }, INSTANCE],
    ['port', { serviceName: 's', ip: '1.2.3.4', port: '1'.repeat(100) }, INSTANCE],
    ['weight', { weight: '10000.5' }, { weight }],
    ['weight', { weight: '-1' }, { weight }],
    ['weight', { weight: '1'.repeat(100) }, { weight }],
    ['clusters', { clusters: Array.from({ length: 65 }, (_, i) => `c${i}`).join(',') }, { clusters: clusterList }],
    ['clusters', { clusters: `ok,${long(129)}` }, { clusters: clusterList }],
    ['metadata', { metadata: JSON.stringify({ k: long(4100) }) }, { metadata: docs.metadata }],
    ['metadata', { metadata: `k=${long(10_000)}` }, { metadata: docs.metadata }],
    ['selector', { selector: '{"a":'.repeat(17) + '1' + '}'.repeat(17) }, { selector: docs.selector }],
    ['selector', { selector: JSON.stringify({ type: 'label', expression: long(4100) }) }, { selector: docs.selector }],
    ['beat', { beat: JSON.stringify({ ip: '1.2.3.4', port: 1, metadata: { k: long(20_000) } }) }, { beat: docs.beat }],
    ['beat', { beat: '[' .repeat(20) + ']'.repeat(20) }, { beat: docs.beat }],
  ] as const)('refuses %s over its bound, naming it', (param, params, shape) => {
    expect(refused(() => readParams(params, shape))).toMatch(new RegExp(`^Param '${param}' is invalid: `));
  });

  it('accepts each field at its bound', () => {
    const name = 'a'.repeat(128);
    expect(serviceOf({ serviceName: `${name}@@${name}`, namespaceId: name }).service).toBe(name);
    expect(readParams({ clusters: Array.from({ length: 64 }, (_, i) => `c${i}`).join(',') }, { clusters: clusterList }).clusters).toMatch(/^c0,/);
    expect(readParams({ weight: '10000' }, { weight }).weight).toBe(10000);
    const md = JSON.stringify({ k: 'x'.repeat(4096 - 8) });
    expect(Buffer.byteLength(md)).toBe(4096);
    expect(readParams({ metadata: md }, { metadata: docs.metadata }).metadata.k).toHaveLength(4088);
    expect(readParams({ selector: '{"a":'.repeat(15) + '1' + '}'.repeat(15) }, { selector: docs.selector }).selector).toHaveProperty('a');
  });
});
