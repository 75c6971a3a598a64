/**
 * Primaries benchmark, with vigil's default settings against private MariaDB pairs (a primary and
 * a replica with real replication), vigil in this process (buildApp, as the tests run it):
 *
 * - failover: the primary is SIGKILLed, the replica promoted (`STOP SLAVE; SET GLOBAL read_only=0`);
 *   seconds from sending the SET to the endpoint answering 200 with the replica (polled every
 *   10 ms), beside the same loop asking the replica `SELECT @@global.read_only` directly. Half the rounds promote at once after the kill, half 2 s later (as an orchestrator
 *   that first confirms the failure would). Wrong answers: 200 naming the killed primary after the SET.
 * - pause: the primary is SIGSTOPped for 2 × checks.timeoutMs; every answer during the pause and
 *   2 s after it must be 200 with that primary.
 * - probe load: role queries the servers themselves counted (`Com_show_variables`), per instance
 *   per second, steady and during the 5 s after a failover.
 *
 *   npm run build && node dist/bench/primaries.js [--failovers 10] [--pauses 10]
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';
import { api, removeDir, tempDir, waitFor } from '../test/helpers/daemon.js';
import { startMariaDb, startReplicaOf, type MariaDb } from '../test/helpers/mariadb.js';

const { values } = parseArgs({ options: { failovers: { type: 'string', default: '10' }, pauses: { type: 'string', default: '10' } } });
const DEFAULTS = parseConfig({});
const TIMEOUT_MS = DEFAULTS.checks.timeoutMs;
const SETTLE_MS = DEFAULTS.primaries.settleMs + 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

interface Daemon {
  readonly url: string;
}

interface Pair {
  readonly service: string;
  readonly primary: MariaDb;
  readonly replica: MariaDb;
}

async function pair(daemon: Daemon, service: string): Promise<Pair> {
  const primary = await startMariaDb({ binlog: true });
  const replica = await startReplicaOf(primary);
  await api(daemon.url, 'PUT', '/v1/checker-configs', { service, checker: { type: 'mysql', options: { user: 'root', requirePrimary: false } } });
  for (const db of [primary, replica]) await api(daemon.url, 'POST', '/v1/instances', { service, ip: db.host, port: db.port });
  await waitFor(async () => (await answer(daemon, service)) === primary.port, 30_000, 20);
  return { service, primary, replica };
}

async function drop(daemon: Daemon, p: Pair): Promise<void> {
  for (const db of [p.primary, p.replica]) await api(daemon.url, 'DELETE', `/v1/instances?service=${p.service}&ip=${db.host}&port=${db.port}`);
  p.primary.resume();
  await Promise.all([p.primary.stop(), p.replica.stop()]);
}

/** The port the endpoint names as primary, or minus the HTTP status when it names none. */
async function answer(daemon: Daemon, service: string): Promise<number> {
  const r = await api(daemon.url, 'GET', `/v1/services/${service}/primary`);
  return r.status === 200 ? r.body.primary.port : -r.status;
}

async function failover(daemon: Daemon, round: number, gapMs: number) {
  const p = await pair(daemon, `fo-${round}`);
  await sleep(SETTLE_MS); // the first answer starts a fast confirmation: let it end
  const steady0 = await p.replica.status('Com_show_variables');
  const steadyT0 = Date.now();
  await sleep(3000 + Math.random() * 1000); // and kill at a random phase of the probe cycle
  const steadyRate = ((await p.replica.status('Com_show_variables')) - steady0) / ((Date.now() - steadyT0) / 1000);
  await p.primary.kill();
  if (gapMs > 0) await sleep(gapMs);
  const fast0 = await p.replica.status('Com_show_variables');
  const t0 = performance.now();
  await p.replica.query('STOP SLAVE; SET GLOBAL read_only = 0');
  let wrong = 0;
  let seconds = NaN;
  let direct = NaN;
  for (;;) {
    const port = await answer(daemon, p.service);
    if (port === p.primary.port) wrong++;
    if (port === p.replica.port) {
      seconds = (performance.now() - t0) / 1000;
      break;
    }
    // The reference: the replica asked directly, in the same loop, what vigil's role query reads.
    if (Number.isNaN(direct)) {
      const [row] = await p.replica.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
      if (row?.ro === 0) direct = (performance.now() - t0) / 1000;
    }
    if (performance.now() - t0 > 30_000) break;
    await sleep(10);
  }
  const fastT0 = Date.now();
  await sleep(5000 - Math.min(5000, seconds * 1000));
  const fastRate = ((await p.replica.status('Com_show_variables')) - fast0) / ((Date.now() - fastT0) / 1000 + seconds);
  await drop(daemon, p);
  return { seconds, direct, wrong, gapMs, steadyRate, fastRate };
}

async function pauses(daemon: Daemon, n: number) {
  const p = await pair(daemon, 'pause');
  const out: Array<{ polls: number; wrong: number }> = [];
  for (let i = 0; i < n; i++) {
    await sleep(500 + Math.random() * 1000);
    let polls = 0;
    let wrong = 0;
    await p.primary.pause();
    const resumeAt = Date.now() + 2 * TIMEOUT_MS;
    const until = resumeAt + 2000;
    let resumed = false;
    while (Date.now() < until) {
      if (!resumed && Date.now() >= resumeAt) {
        p.primary.resume();
        resumed = true;
      }
      polls++;
      if ((await answer(daemon, p.service)) !== p.primary.port) wrong++;
      await sleep(50);
    }
    if (!resumed) p.primary.resume();
    out.push({ polls, wrong });
  }
  await drop(daemon, p);
  return out;
}

async function main(): Promise<void> {
  const dataDir = tempDir('vigil-bench-primaries-');
  const app = buildApp(parseConfig({ api: { port: 0 }, store: { dataDir } }), { logger: pino({ level: 'warn' }) });
  const daemon: Daemon = await app.start();
  try {
    const rounds = [];
    for (let i = 0; i < Number(values.failovers); i++) {
      const r = await failover(daemon, i, i % 2 === 0 ? 0 : 2000);
      console.log(`failover ${i + 1}: ${r.seconds.toFixed(3)} s (direct poll of the replica ${r.direct.toFixed(3)} s; promoted ${r.gapMs} ms after the kill), wrong answers ${r.wrong}, replica role queries/s steady ${r.steadyRate.toFixed(2)}, after failover ${r.fastRate.toFixed(2)}`);
      rounds.push(r);
    }
    const secs = rounds.map((r) => r.seconds);
    const p = await pauses(daemon, Number(values.pauses));
    p.forEach((x, i) => console.log(`pause ${i + 1} (${2 * TIMEOUT_MS} ms): ${x.polls} polls, ${x.wrong} wrong`));
    console.log(JSON.stringify({
      failovers: rounds.length,
      p50Seconds: quantile(secs, 0.5),
      maxSeconds: Math.max(...secs),
      referenceDirectPollMaxSeconds: Math.max(...rounds.map((r) => (Number.isNaN(r.direct) ? 0 : r.direct))),
      wrongAnswersDuringFailover: rounds.reduce((n, r) => n + r.wrong, 0),
      pauses: p.length,
      pausePolls: p.reduce((n, x) => n + x.polls, 0),
      wrongAnswersDuringPauses: p.reduce((n, x) => n + x.wrong, 0),
      roleQueriesPerInstancePerSecondSteady: quantile(rounds.map((r) => r.steadyRate), 0.5),
      roleQueriesPerInstancePerSecondAfterFailover: quantile(rounds.map((r) => r.fastRate), 0.5),
    }, null, 2));
  } finally {
    await app.stop();
    removeDir(dataDir);
  }
}

await main();
