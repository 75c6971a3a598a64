/**
 * What bench/haproxy.ts stands on: the target addresses both checkers probe, the nginx that answers
 * them, and the HAProxy configuration equivalent to vigil's checks. Pure text builders plus the
 * counters nginx's stub_status reports.
 */

/** Instance i's target: its own 127.1x.y.z address (every 127/8 address answers on loopback), port i mod ports. */
export function targetAddress(i: number, ports: readonly number[]): { host: string; port: number } {
  return { host: `127.${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: ports[i % ports.length]! };
}

/**
 * One nginx process (no master, one worker), listening on the IPv4 wildcard so every 127.x.y.z
 * address answers: `GET /` gives 200 "ok" (keep-alive allowed), status on its own port.
 */
export function nginxConfig(dir: string, ports: readonly number[], statusPort: number): string {
  const listens = ports.map((p) => `    listen 0.0.0.0:${p} backlog=8192 reuseport;`).join('\n');
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log crit;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  server {
${listens}
    location / { return 200 "ok\\n"; }
  }
  server {
    listen 127.0.0.1:${statusPort};
    location / { stub_status; }
  }
}
`;
}

export interface NginxCounts {
  readonly accepts: number;
  readonly requests: number;
}

/** Parses stub_status: "Active connections: N\nserver accepts handled requests\n A H R\n…". */
export function parseStubStatus(text: string): NginxCounts {
  const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(text);
  if (!m) throw new Error(`not a stub_status answer: ${text.slice(0, 80)}`);
  return { accepts: Number(m[1]), requests: Number(m[3]) };
}

export type ProbeKind = 'tcp' | 'http';

/**
 * HAProxy checking the same targets: one backend per 1 000 servers (HAProxy parses a large backend in quadratic time), each server checked every
 * `intervalMs` (`inter`), timeouts as vigil's, checks spread by ±10 % like vigil's jitter. TCP: a
 * plain connect check; HTTP: `option httpchk GET /` expecting 2xx (HAProxy opens a connection per
 * check: it has no keep-alive checks). One thread, no traffic (its one frontend is idle), no logging.
 */
export function haproxyConfig(kind: ProbeKind, instances: number, ports: readonly number[], intervalMs: number, timeoutMs: number, listenPort: number): string {
  const lines = [
    'global',
    '  nbthread 1',
    // HAProxy reserves a descriptor per checked server and refuses to start above the hard limit
    // (20 000 here) unless told not to be strict; checks only hold one while they run.
    '  ulimit-n 19500',
    '  no strict-limits',
    '  maxconn 4000',
    '  spread-checks 10',
    'defaults',
    '  mode tcp',
    `  timeout connect ${timeoutMs}ms`,
    `  timeout check ${timeoutMs}ms`,
    '  timeout client 10s',
    '  timeout server 10s',
    `  default-server inter ${intervalMs}ms fall 3 rise 2`,
    // HAProxy refuses to start without a listener; nothing connects to it.
    'frontend idle',
    `  bind 127.0.0.1:${listenPort}`,
    '  default_backend b0',
  ];
  for (let b = 0; b * 1_000 < instances; b++) {
    lines.push(`backend b${b}`);
    if (kind === 'http') lines.push('  option httpchk GET /', '  http-check expect status 200-299');
    for (let i = b * 1_000; i < Math.min(instances, (b + 1) * 1_000); i++) {
      const { host, port } = targetAddress(i, ports);
      lines.push(`  server s${i} ${host}:${port} check`);
    }
  }
  return `${lines.join('\n')}\n`;
}
