/** `vigil status`: services, instances and health from a running daemon, as a table or JSON. */
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { redact } from '../security/redact.js';

interface InstanceRow {
  service: string;
  group: string;
  cluster: string;
  ip: string;
  port: number;
  ephemeral: boolean;
  health: { healthy: boolean; since: number; reason: string };
  lastProbe: { status: string; reason: string; latencyMs: number; facts: Record<string, unknown> } | null;
  exempt: { by: string; reason: string } | null;
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

const USAGE = `usage: vigil status [--url URL] [--json]

  --url URL   the daemon's API (default http://127.0.0.1:8848)
  --json      print the instances as JSON

A daemon with auth on needs a token: pass it in the environment, VIGIL_TOKEN=… (never as a flag).

exit status: 0 answered, 1 the daemon could not be reached or answered an error
`;

export async function statusCommand(args: string[], env: NodeJS.ProcessEnv = {}, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  // Everything printed passes the one redaction function, like every other output.
  const out = (s: string): void => write(redact(s));
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8848' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    out(USAGE);
    return 0;
  }
  // The token comes from the environment, never a flag (flags show in `ps`).
  const headers = env.VIGIL_TOKEN ? { authorization: `Bearer ${env.VIGIL_TOKEN}` } : {};
  const instances: InstanceRow[] = [];
  // The listing is paged: follow the cursor to the last page.
  for (let cursor: string | null | undefined; cursor !== null; ) {
    const url = new URL('/v1/instances', values.url);
    url.searchParams.set('limit', '5000');
    if (cursor) url.searchParams.set('cursor', cursor);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).name;
      process.stderr.write(`vigil status: cannot reach ${values.url} (${code}): is the daemon running? (vigil start)\n`);
      return 1;
    }
    if (res.statusCode !== 200) {
      out(`vigil status: ${values.url} answered ${res.statusCode}: ${await res.body.text()}\n`);
      return 1;
    }
    const page = (await res.body.json()) as { instances: InstanceRow[]; nextCursor?: string | null };
    instances.push(...page.instances);
    cursor = page.nextCursor ?? null;
  }
  if (values.json) {
    out(JSON.stringify(instances, null, 2) + '\n');
    return 0;
  }
  const rows = [['SERVICE', 'CLUSTER', 'INSTANCE', 'KIND', 'HEALTH', 'SINCE', 'LAST PROBE', 'EXEMPT']];
  const sorted = [...instances].sort((a, b) => `${a.group}@@${a.service}`.localeCompare(`${b.group}@@${b.service}`));
  for (const i of sorted) {
    const p = i.lastProbe;
    const role = p?.facts?.role ? ` role=${String(p.facts.role)}` : '';
    rows.push([
      `${i.group}@@${i.service}`,
      i.cluster,
      i.ip.includes(':') ? `[${i.ip}]:${i.port}` : `${i.ip}:${i.port}`,
      i.ephemeral ? 'ephemeral' : 'persistent',
      i.health.healthy ? 'UP' : 'DOWN',
      new Date(i.health.since).toISOString(),
      p ? `${p.status} ${p.reason} ${p.latencyMs.toFixed(1)}ms${role}` : '-',
      i.exempt ? `${i.exempt.by}: ${i.exempt.reason}` : '',
    ]);
  }
  out(instances.length === 0 ? 'no instances registered\n' : table(rows));
  const members = await clusterMembers(new URL('/v1/cluster/members', values.url), headers);
  if (members) out('\n' + membersTable(members));
  return 0;
}

interface MemberRow {
  nodeId: string;
  url: string;
  alive: boolean;
  admitted: boolean;
  lastSeen: number;
  shards: number;
}

/** The cluster's members, or undefined for a single node (the route does not exist there). */
async function clusterMembers(url: URL, headers: Record<string, string>): Promise<MemberRow[] | undefined> {
  try {
    const res = await request(url, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    return ((await res.body.json()) as { members: MemberRow[] }).members;
  } catch {
    return undefined;
  }
}

export function membersTable(members: readonly MemberRow[]): string {
  const rows = [['NODE', 'URL', 'STATE', 'SHARDS', 'LAST SEEN']];
  for (const m of [...members].sort((a, b) => a.nodeId.localeCompare(b.nodeId))) {
    const state = !m.admitted ? 'refused (other secret)' : m.alive ? 'alive' : 'dead';
    rows.push([m.nodeId, m.url, state, String(m.shards), new Date(m.lastSeen).toISOString()]);
  }
  return table(rows);
}
