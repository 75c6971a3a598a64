/**
 * A fresh database on a private MariaDB (helpers/mariadb.ts) for the shared store, reachable over
 * TCP on loopback by the unprivileged test user, as a vigil node would reach it.
 */
import { TEST_USER, type MariaDb } from './mariadb.js';

let n = 0;

/** Creates database `vigil_<tag>_<n>`, grants the test user all on it, and returns its URL. */
export async function freshDatabase(db: MariaDb, tag = 'test'): Promise<string> {
  const name = `vigil_${tag}_${++n}_${process.pid}`;
  await db.query(`CREATE DATABASE \`${name}\`; GRANT ALL ON \`${name}\`.* TO '${TEST_USER.user}'@'%'`);
  return `mysql://${TEST_USER.user}:${TEST_USER.password}@${db.host}:${db.port}/${name}`;
}
