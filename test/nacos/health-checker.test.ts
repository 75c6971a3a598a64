import { describe, expect, it } from 'vitest';
import { parseHealthChecker } from '../../src/nacos/health-checker.js';

const ON_INSTANCE_PORT = { useInstancePort4Check: true };

describe('Nacos healthChecker → vigil checker config', () => {
  it('maps TCP to tcp on the instance port', () => {
    expect(parseHealthChecker('{"type":"TCP"}', ON_INSTANCE_PORT)).toEqual({ kind: 'checker', input: { type: 'tcp', options: {} } });
  });

  it('probes checkPort when useInstancePort4Check is false', () => {
    expect(parseHealthChecker('{"type":"TCP"}', { useInstancePort4Check: false, checkPort: 9000 })).toEqual({ kind: 'checker', input: { type: 'tcp', options: {}, port: 9000 } });
    expect(() => parseHealthChecker('{"type":"TCP"}', { useInstancePort4Check: false })).toThrow(/'checkPort'/);
  });

  it('maps HTTP with path, headers split on the first colon only, and the expected status', () => {
    const r = parseHealthChecker(JSON.stringify({ type: 'HTTP', path: '/health', headers: 'X-Token:a:b:c|Accept: text/plain', expectedResponseCode: 204 }), ON_INSTANCE_PORT);
    expect(r).toEqual({
      kind: 'checker',
      input: { type: 'http', options: { path: '/health', headers: { 'X-Token': 'a:b:c', Accept: 'text/plain' }, expectStatus: [204] } },
    });
  });

  it('expects 200 by default, as Nacos, and turns a Host header into the host option', () => {
    const r = parseHealthChecker(JSON.stringify({ type: 'http', path: 'ping', headers: 'Host:svc.local' }), ON_INSTANCE_PORT);
    expect(r).toEqual({ kind: 'checker', input: { type: 'http', options: { path: '/ping', host: 'svc.local', expectStatus: [200] } } });
  });

  it('maps MYSQL: the read_only query asks for the primary, another query must merely succeed', () => {
    const primary = parseHealthChecker(JSON.stringify({ type: 'MYSQL', user: 'app', pwd: 's3cret', cmd: "show global variables where variable_name='read_only'" }), ON_INSTANCE_PORT);
    expect(primary).toEqual({ kind: 'checker', input: { type: 'mysql', options: { user: 'app', password: 's3cret', requirePrimary: true } } });
    const alive = parseHealthChecker(JSON.stringify({ type: 'MYSQL', user: 'app', cmd: 'select 1' }), ON_INSTANCE_PORT);
    expect(alive).toEqual({ kind: 'checker', input: { type: 'mysql', options: { user: 'app', requirePrimary: false, query: 'select 1' } } });
  });

  it('maps NONE to no active check', () => {
    expect(parseHealthChecker('{"type":"NONE"}', ON_INSTANCE_PORT)).toEqual({ kind: 'none' });
  });

  it('carries vigil\'s interval and thresholds along', () => {
    const r = parseHealthChecker(JSON.stringify({ type: 'TCP', intervalMs: 500, timeoutMs: 200, rise: 1, fall: 1 }), ON_INSTANCE_PORT);
    expect(r).toEqual({ kind: 'checker', input: { type: 'tcp', options: {}, intervalMs: 500, timeoutMs: 200, rise: 1, fall: 1 } });
  });

  it.each([
    ['{"type":', /not valid JSON/],
    ['[1]', /JSON object/],
    ['{"type":"GRPC"}', /TCP, HTTP, MYSQL or NONE/],
    ['{"type":"TCP","path":"/x"}', /unknown key "path"/],
    ['{"type":"HTTP","headers":"broken"}', /name:value/],
    ['{"type":"HTTP","expectedResponseCode":999}', /expectedResponseCode/],
  ])('refuses %s naming healthChecker', (json, why) => {
    expect(() => parseHealthChecker(json, ON_INSTANCE_PORT)).toThrow(why);
    expect(() => parseHealthChecker(json, ON_INSTANCE_PORT)).toThrow(/'healthChecker'/);
  });
});
