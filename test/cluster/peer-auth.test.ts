import { describe, expect, it } from 'vitest';
import { clusterCheck, memberProof, PEER_HEADERS, signPeerRequest, verifyPeerRequest } from '../../src/cluster/peer-auth.js';

const req = { method: 'POST', path: '/v1/cluster/changes', body: '{"changes":[]}' };

describe('peer request signatures', () => {
  it('accepts a request signed with the same secret, naming its sender', () => {
    const headers = signPeerRequest('s3cret', 'n1', req);
    expect(verifyPeerRequest('s3cret', headers, req)).toEqual({ ok: true, nodeId: 'n1' });
  });

  it('refuses a request signed with another secret, naming the signature header', () => {
    const headers = signPeerRequest('other', 'n1', req);
    expect(verifyPeerRequest('s3cret', headers, req)).toMatchObject({ ok: false, field: PEER_HEADERS.signature });
  });

  it('refuses a request without the headers, naming the missing one', () => {
    expect(verifyPeerRequest('s3cret', {}, req)).toMatchObject({ ok: false, field: PEER_HEADERS.node });
    expect(verifyPeerRequest('s3cret', { [PEER_HEADERS.node]: 'n1' }, req)).toMatchObject({ ok: false, field: PEER_HEADERS.signature });
    expect(verifyPeerRequest('s3cret', { [PEER_HEADERS.node]: 'n1', [PEER_HEADERS.signature]: ['a', 'b'] }, req)).toMatchObject({ ok: false });
  });

  it.each([
    ['body', { ...req, body: '{"changes":[1]}' }],
    ['path', { ...req, path: '/v1/cluster/other' }],
    ['method', { ...req, method: 'PUT' }],
  ])('refuses a signed request whose %s was changed on the way', (_what, changed) => {
    const headers = signPeerRequest('s3cret', 'n1', req);
    expect(verifyPeerRequest('s3cret', headers, changed).ok).toBe(false);
  });

  it('refuses a signature moved to another sender', () => {
    const headers = { ...signPeerRequest('s3cret', 'n1', req), [PEER_HEADERS.node]: 'n2' };
    expect(verifyPeerRequest('s3cret', headers, req).ok).toBe(false);
  });

  it('signs bytes and strings of the same body alike', () => {
    const headers = signPeerRequest('s3cret', 'n1', req);
    expect(verifyPeerRequest('s3cret', headers, { ...req, body: Buffer.from(req.body) }).ok).toBe(true);
  });
});

describe('member proof and cluster check', () => {
  it('are HMAC-SHA256 hex, differ by secret and by node, and never contain the secret', () => {
    expect(memberProof('s', 'n1')).toMatch(/^[0-9a-f]{64}$/);
    expect(memberProof('s', 'n1')).not.toBe(memberProof('s', 'n2'));
    expect(memberProof('s', 'n1')).not.toBe(memberProof('t', 'n1'));
    expect(clusterCheck('s')).not.toBe(clusterCheck('t'));
    // Pinned with: printf 'cluster' | openssl dgst -sha256 -hmac s
    expect(clusterCheck('s')).toBe(CHECK_S);
  });
});

const CHECK_S = '8d5cdc792aaba5f6f537e8379d750f1a716c9ee040168710fb8bd39bb7cdbc26';
