import { describe, expect, it } from 'vitest';
import { decidePrimary, versionOf, type Member } from '../../src/primaries/decide.js';
import type { RoleState } from '../../src/primaries/role.js';

const role = (r: RoleState['role'], fresh = true, ok = true): RoleState => ({ role: r, since: 1, fresh, ok });
const m = (key: string, healthy: boolean, r?: RoleState, overridden = false): Member => ({ key, healthy, overridden, role: r });

describe('deciding the primary of a service', () => {
  it('names the one healthy writable instance', () => {
    const a = decidePrimary([m('a', true, role('primary')), m('b', true, role('replica'))]);
    expect(a).toEqual({ kind: 'one', primary: 'a', candidates: ['a'], version: versionOf('one', ['a']) });
  });

  it('keeps a primary whose last probe timed out while it is UP', () => {
    const a = decidePrimary([m('a', true, role('primary', false, false)), m('b', true, role('replica'))]);
    expect(a.kind).toBe('one');
  });

  it('refuses to name one of two writable instances, listing both', () => {
    const a = decidePrimary([m('b', true, role('primary')), m('a', true, role('primary')), m('c', true, role('replica'))]);
    expect(a).toEqual({ kind: 'split', candidates: ['a', 'b'], version: versionOf('split', ['a', 'b']) });
  });

  it('counts a DOWN instance that answers writable towards split brain (it takes writes)', () => {
    const a = decidePrimary([m('a', true, role('primary')), m('b', false, role('primary'))]);
    expect(a.kind).toBe('split');
  });

  it('names a rising instance that answers writable when it is the only one', () => {
    expect(decidePrimary([m('a', false, role('primary')), m('b', true, role('replica'))])).toMatchObject({ kind: 'one', primary: 'a' });
  });

  it('takes out an instance an operator set DOWN', () => {
    expect(decidePrimary([m('a', false, role('primary'), true), m('b', true, role('replica'))])).toMatchObject({ kind: 'none', reason: 'all-read-only' });
  });

  it('says why there is none', () => {
    expect(decidePrimary([m('a', true), m('b', true)])).toMatchObject({ kind: 'none', reason: 'not-probed' });
    expect(decidePrimary([m('a', false, role('unknown', false, false)), m('b', false, role('unknown', false, false))])).toMatchObject({ kind: 'none', reason: 'all-down' });
    expect(decidePrimary([m('a', false, role('unknown', false, false)), m('b', true, role('replica'))])).toMatchObject({ kind: 'none', reason: 'all-read-only' });
    expect(decidePrimary([m('a', false, role('primary', true, false)), m('b', true, role('replica'))])).toMatchObject({ kind: 'none', reason: 'primary-down' });
  });

  it('gives the same answer the same version, and a different answer another', () => {
    const one = decidePrimary([m('a', true, role('primary')), m('b', true, role('replica'))]);
    const same = decidePrimary([m('b', true, role('replica', false, false)), m('a', true, role('primary'))]);
    const other = decidePrimary([m('a', true, role('replica')), m('b', true, role('primary'))]);
    expect(same.version).toBe(one.version);
    expect(other.version).not.toBe(one.version);
    expect(one.version).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });
});
