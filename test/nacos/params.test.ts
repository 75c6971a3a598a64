import { describe, expect, it } from 'vitest';
import { metadataValue, serviceOf } from '../../src/nacos/params.js';

describe('nacos parameters', () => {
  it('reads grouped and ungrouped service names', () => {
    expect(serviceOf({ serviceName: 'G1@@svc' })).toEqual({ namespace: 'public', group: 'G1', service: 'svc', raw: 'G1@@svc' });
    expect(serviceOf({ serviceName: 'svc' })).toEqual({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', raw: 'svc' });
    expect(serviceOf({ serviceName: 'svc', groupName: 'G2', namespaceId: 'dev' })).toEqual({ namespace: 'dev', group: 'G2', service: 'svc', raw: 'svc' });
    expect(() => serviceOf({ serviceName: '@@svc' })).toThrow(/'serviceName'/);
  });

  it('reads metadata as JSON or as k=v pairs', () => {
    expect(metadataValue('{"a":"1","b":2,"c":true}')).toEqual({ a: '1', b: '2', c: 'true' });
    expect(metadataValue('a=1, b=x=y')).toEqual({ a: '1', b: 'x=y' });
    expect(metadataValue('')).toEqual({});
    expect(() => metadataValue('{"a":{"b":1}}')).toThrow(/'metadata'/);
    expect(() => metadataValue('novalue')).toThrow(/'metadata'/);
  });
});
