import { describe, expect, it } from 'vitest';
import { knownSecrets, redact } from '../../src/security/redact.js';

describe('redact', () => {
  it('masks secret-named keys at any depth and every header value, keeping header names', () => {
    const out = redact({ options: { password: 'x1', headers: { authorization: 'a1', 'x-y': 'b1' }, path: '/' }, list: [{ pwd: 'p1' }], token: 't1' });
    expect(out).toEqual({ options: { password: '***', headers: { authorization: '***', 'x-y': '***' }, path: '/' }, list: [{ pwd: '***' }], token: '***' });
  });

  it('masks the keys a checker declares secret', () => {
    expect(redact({ apiSecret2: 'v', user: 'u' }, { extraKeys: ['apiSecret2'] })).toEqual({ apiSecret2: '***', user: 'u' });
  });

  it('scrubs JSON pairs, JSON inside JSON strings, k=v pairs and bearer tokens from text', () => {
    expect(redact('{"type":"MYSQL","pwd":"hunter2","user":"x"}')).toBe('{"type":"MYSQL","pwd":"***","user":"x"}');
    expect(redact('got "{\\"type\\":\\"MYSQL\\",\\"pwd\\":\\"hunter2\\"}"')).not.toContain('hunter2');
    expect(redact('/x?username=nacos&password=s3cr3t&x=1')).toBe('/x?username=nacos&password=***&x=1');
    expect(redact('metadata k=v,pwd=zz9,a=b')).toBe('metadata k=v,pwd=***,a=b');
    expect(redact('Authorization: Bearer abc.def')).not.toContain('abc.def');
  });

  it('scrubs exact known secrets wherever they appear', () => {
    expect(redact('my token is supersecret!', { known: knownSecrets(['supersecret']) })).toBe('my token is ***!');
  });

  it('leaves ordinary values alone', () => {
    const v = { service: 'orders', port: 3306, healthy: true, reason: 'refused', detail: 'HTTP 500 Internal Server Error' };
    expect(redact(v)).toEqual(v);
  });
});
