// The status page: reads the native API and follows /v1/events. The event stream is read with
// fetch (not EventSource) so that it can send the credential the user typed, as every API call does.
const $ = (id) => document.getElementById(id);
const state = { instances: [], history: new Map(), beat: null, members: null, timer: 0, lastEventId: '' };
const BAR = 30;

// Either the API token (sent as a bearer token) or a Nacos-style user's accessToken from a login.
const token = () => sessionStorage.getItem('vigil-token') || '';
const accessToken = () => sessionStorage.getItem('vigil-access') || '';
const signedIn = () => Boolean(token() || accessToken());
const authHeaders = () => (accessToken() ? { accesstoken: accessToken() } : token() ? { authorization: `Bearer ${token()}` } : {});

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { ...authHeaders(), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${data.code || res.status}: ${data.message || res.statusText}`);
  return data;
}

/** Every item of a paged listing (`limit`, `nextCursor`): instances at most 5000 a page, histories 1000. */
async function allPages(path, limit) {
  const out = [];
  let cursor = null;
  do {
    const page = await api('GET', `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.instances);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function load() {
  const [instances, histories, beat, members] = await Promise.all([
    allPages('/v1/instances', 5000),
    allPages(`/v1/history?last=${BAR}`, 1000),
    api('GET', '/v1/beat/status').catch(() => null),
    // Only a clustered daemon answers this; a single node has no members panel.
    api('GET', '/v1/cluster/members').catch(() => null),
  ]);
  state.instances = instances;
  state.history = new Map(histories.map((h) => [h.key, h]));
  state.beat = beat;
  state.members = members ? members.members : null;
  render();
}

/** Many events in a burst (a failover, a deploy) cost one reload. */
function reloadSoon() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => load().catch(showError), 150);
}

const keyOf = (i) => `${i.namespace}/${i.group}@@${i.service}/${i.cluster}/${i.ip.includes(':') ? `[${i.ip}]` : i.ip}:${i.port}`;
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(v === 1 ? 0 : 2)}%`);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
};

function sparkline(results) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 90 20');
  const values = results.map((r) => r.latencyMs);
  if (values.length > 1) {
    const max = Math.max(...values, 0.001);
    const pts = values.map((v, i) => `${((i / (values.length - 1)) * 88 + 1).toFixed(1)},${(19 - (v / max) * 18).toFixed(1)}`);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(line);
  }
  svg.setAttribute('aria-label', values.length ? `latency ${Math.min(...values)}–${Math.max(...values)} ms` : 'no probes yet');
  return svg;
}

function heartbeatBar(results) {
  const bar = el('div', { class: 'bar', 'data-testid': 'heartbeat' });
  for (let i = results.length; i < BAR; i++) bar.append(el('i'));
  for (const r of results) bar.append(el('i', { class: r.status, title: `${new Date(r.startedAt).toLocaleTimeString()} ${r.status} ${r.reason} ${r.latencyMs} ms` }));
  return bar;
}

function exemptText(x) {
  if (!x) return '';
  if (x.by === 'whitelist') return `maintenance: ${x.reason}`;
  if (x.by === 'override') return `set by operator: ${x.reason}`;
  return x.reason;
}

async function toggleMaintenance(i) {
  try {
    if (i.exempt && i.exempt.by === 'whitelist') await api('DELETE', `/v1/whitelist/${encodeURIComponent(i.exempt.id)}`);
    else await api('POST', '/v1/whitelist', { namespace: i.namespace, service: `${i.group}@@${i.service}`, cluster: i.cluster, ip: i.ip, port: i.port, reason: 'maintenance (status page)' });
    await load();
  } catch (err) {
    showError(err);
  }
}

function row(i) {
  const h = state.history.get(keyOf(i)) || { results: [], uptime: {}, latencyMs: null };
  const up = i.health.healthy;
  const p = i.lastProbe;
  const role = p && p.facts && p.facts.role;
  const inMaintenance = i.exempt && i.exempt.by === 'whitelist';
  const button = i.ephemeral ? null : el('button', {
    type: 'button',
    'data-testid': 'maintenance',
    text: inMaintenance ? 'End maintenance' : 'Maintenance',
    title: signedIn() ? '' : 'sign in above (token, or user and password)',
    onclick: () => toggleMaintenance(i),
  });
  if (button && !signedIn()) button.disabled = true;
  return el('tr', { 'data-key': keyOf(i), 'data-health': up ? 'up' : 'down' },
    el('td', { class: 'inst' }, el('span', { class: `dot ${up ? 'up' : 'down'}` }), el('strong', { text: `${i.ip}:${i.port}` }), el('span', { class: 'muted', text: ` ${i.cluster} · ${i.ephemeral ? 'ephemeral' : 'persistent'}` })),
    el('td', {}, el('span', { class: `state ${up ? 'up' : 'down'}`, 'data-testid': 'state', text: up ? 'UP' : 'DOWN' }), role ? el('span', { class: `role ${role}`, text: role }) : null),
    el('td', { class: 'hb' }, heartbeatBar(h.results)),
    el('td', { title: '24 h / 7 d / 30 d', text: `${pct(h.uptime['24h'])} · ${pct(h.uptime['7d'])} · ${pct(h.uptime['30d'])}` }),
    el('td', {}, sparkline(h.results)),
    el('td', { class: 'muted', text: p ? `${p.status} ${p.reason} ${p.latencyMs.toFixed(1)} ms` : i.ephemeral ? 'beats' : 'not probed yet' }),
    el('td', { class: 'exempt', text: exemptText(i.exempt) }),
    el('td', {}, button),
  );
}

function visible(i) {
  const q = $('search').value.trim().toLowerCase();
  const show = $('show').value;
  if (show === 'up' && !i.health.healthy) return false;
  if (show === 'down' && i.health.healthy) return false;
  if (show === 'exempt' && !i.exempt) return false;
  if (!q) return true;
  return [i.namespace, i.group, i.service, i.cluster, `${i.ip}:${i.port}`, ...Object.entries(i.metadata || {}).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase().includes(q);
}

function sorter() {
  const by = $('sort').value;
  const lat = (i) => (i.lastProbe ? i.lastProbe.latencyMs : -1);
  if (by === 'name') return (a, b) => keyOf(a).localeCompare(keyOf(b));
  if (by === 'latency') return (a, b) => lat(b) - lat(a);
  return (a, b) => Number(a.health.healthy) - Number(b.health.healthy) || keyOf(a).localeCompare(keyOf(b));
}

/** Cluster mode: each node of this node's membership view, alive (counted), dead or refused (another secret). */
function renderMembers() {
  const list = state.members;
  const box = $('members');
  box.hidden = !list;
  if (!list) return box.replaceChildren();
  const stateOf = (m) => (!m.alive ? 'dead' : m.admitted ? 'alive' : 'refused');
  const alive = list.filter((m) => stateOf(m) === 'alive').length;
  box.replaceChildren(
    el('h2', {}, el('span', { text: 'Cluster members' }), el('span', { class: 'meta', 'data-testid': 'members-summary', text: `${alive}/${list.length} alive` })),
    el('ul', {}, ...list.map((m) => el('li', { 'data-node': m.nodeId, 'data-state': stateOf(m) },
      el('span', { class: `dot ${stateOf(m) === 'alive' ? 'up' : 'down'}` }),
      el('strong', { text: m.nodeId }),
      el('span', { class: `state ${stateOf(m) === 'alive' ? 'up' : 'down'}`, 'data-testid': 'member-state', text: ` ${stateOf(m)}` }),
      el('span', { class: 'muted', text: ` · ${m.shards} shards · ${m.url} · last heartbeat ${new Date(m.lastSeen).toLocaleTimeString()}` })))),
  );
}

function render() {
  renderMembers();
  const groups = new Map();
  const shown = state.instances.filter(visible).sort(sorter());
  for (const i of shown) {
    const sk = `${i.namespace}/${i.group}@@${i.service}`;
    if (!groups.has(sk)) groups.set(sk, []);
    groups.get(sk).push(i);
  }
  const sections = [...groups].map(([sk, list]) => {
    const first = list[0];
    const all = state.instances.filter((i) => i.namespace === first.namespace && i.group === first.group && i.service === first.service);
    const up = all.filter((i) => i.health.healthy).length;
    const primaries = all.filter((i) => i.health.healthy && i.lastProbe && i.lastProbe.facts && i.lastProbe.facts.role === 'primary');
    // The counts in the URL make the browser fetch a new badge when they change instead of reusing its copy.
    const badge = el('img', { src: `/badge/${encodeURIComponent(`${first.group}@@${first.service}`)}.svg?namespace=${encodeURIComponent(first.namespace)}&up=${up}&of=${all.length}`, alt: `${up}/${all.length} up` });
    return el('section', { class: 'service', 'data-service': sk },
      el('h2', {}, el('span', { text: first.service }), badge,
        el('span', { class: 'meta', text: `${first.namespace} · ${first.group} · ${up}/${all.length} up${primaries.length > 1 ? ' · SPLIT BRAIN' : primaries.length === 1 ? ` · primary ${primaries[0].ip}:${primaries[0].port}` : ''}` })),
      el('table', {},
        el('thead', {}, el('tr', {}, ...['instance', 'health', `last ${BAR} probes`, 'uptime 24h·7d·30d', 'latency', 'last probe', 'exemption', ''].map((t) => el('th', { text: t })))),
        el('tbody', {}, ...list.map(row))));
  });
  $('services').replaceChildren(...(sections.length ? sections : [el('p', { class: 'muted', text: state.instances.length ? 'nothing matches the filter' : 'no instances registered' })]));
  const down = state.instances.filter((i) => !i.health.healthy).length;
  $('summary').textContent = `${state.instances.length} instances · ${state.instances.length - down} up · ${down} down · ${groups.size} services shown`;
  const banners = [];
  const sp = state.beat && state.beat.selfPreservation;
  if (sp && sp.engaged) banners.push(el('p', { text: `Self-preservation is holding deletions of ephemeral instances (${sp.reason}, ${sp.held} held).` }));
  if (state.instances.some((i) => i.exempt && i.exempt.by === 'switch')) banners.push(el('p', { text: 'Active checks are switched off.' }));
  $('banners').replaceChildren(...banners);
}

function showError(err) {
  $('banners').replaceChildren(el('p', { text: String(err.message || err) }));
}

function setLive(on) {
  $('live').textContent = on ? 'live' : 'reconnecting';
  $('live').className = `pill ${on ? 'on' : 'off'}`;
}

/** Reads one SSE stream until it ends; frames are separated by a blank line. */
async function follow() {
  const headers = { ...authHeaders(), accept: 'text/event-stream' };
  if (state.lastEventId) headers['last-event-id'] = state.lastEventId;
  const res = await fetch('/v1/events', { headers });
  if (!res.ok || !res.body) throw new Error(`event stream: ${res.status}`);
  setLive(true);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const id = /^id: (.*)$/m.exec(frame);
      if (id) state.lastEventId = id[1];
      if (/^event: /m.test(frame)) reloadSoon();
    }
  }
}

async function live() {
  for (;;) {
    try {
      await follow();
    } catch {
      // fall through to the retry below
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** A user name given: log in with the password for an accessToken; else the field is the API token. */
async function signIn() {
  const user = $('user').value.trim();
  const secret = $('token').value.trim();
  sessionStorage.removeItem('vigil-access');
  sessionStorage.setItem('vigil-token', user ? '' : secret);
  if (user && secret) {
    const res = await fetch('/nacos/v1/auth/users/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: user, password: secret }) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok || !data.accessToken) throw new Error(`sign-in failed: ${data.code || res.status}`);
    sessionStorage.setItem('vigil-access', data.accessToken);
  }
  // Reads may need the credential too (api.anonymousReads: false): load again with it.
  await load();
}
$('token').value = token();
// A token applies as it is typed; a password waits for Enter (one login, not one per keystroke).
$('token').addEventListener('input', () => {
  if (!$('user').value.trim()) signIn().catch(showError);
});
$('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  signIn().catch(showError);
});
for (const id of ['search', 'show', 'sort']) $(id).addEventListener('input', render);
// Heartbeat bars move with every probe, not only with flips: refresh them now and then.
setInterval(() => load().catch(showError), 10000);
load().catch(showError);
live();
