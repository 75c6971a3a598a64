/**
 * CPU cost of reading a beat's parameters through the Nacos parameter layer (src/nacos/params.ts,
 * param-schemas.ts), the part of every `PUT /nacos/v1/ns/instance/beat` that validation adds.
 * Full beat: `serviceName`, `namespaceId` and the `beat` JSON as the npm client sends them; light
 * beat: ip/port/clusterName. Reference, same run: the same reads by an older build's hand parser
 * when `--reference DIR` names its dist folder (e.g. /work/main/dist from before the layer).
 *
 *   npm run build && node dist/bench/nacos-params.js [--reference /path/to/old/dist]
 */
import { parseArgs } from 'node:util';
import { ADDRESS, documentSchemas, SERVICE } from '../src/nacos/param-schemas.js';
import { readParams } from '../src/nacos/params.js';

const { values } = parseArgs({ options: { reference: { type: 'string' }, iterations: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' } } });
const N = Number(values.iterations);

const beat = JSON.stringify({ serviceName: 'DEFAULT_GROUP@@svc-123', ip: '10.0.1.23', port: 8080, cluster: 'DEFAULT', weight: 1, metadata: { zone: 'a', version: '1.2.3' }, scheduled: false });
const full = { serviceName: 'DEFAULT_GROUP@@svc-123', namespaceId: 'public', beat };
const light = { serviceName: 'DEFAULT_GROUP@@svc-123', namespaceId: 'public', ip: '10.0.1.23', port: '8080', clusterName: 'DEFAULT' };
const FULL = { ...SERVICE, beat: documentSchemas({ maxMetadataBytes: 4096 }).beat.optional() };

const runs: Record<string, () => void> = {
  'layer, full beat': () => readParams(full, FULL),
  'layer, light beat': () => {
    readParams(light, FULL);
    readParams(light, ADDRESS);
  },
};

if (values.reference) {
  // The hand parser before the layer: serviceOf/clusterOf/ipOf/portOf and parseBeat.
  type P = Record<string, string>;
  const old = (await import(`${values.reference}/src/nacos/params.js`)) as Record<string, (p: P) => unknown>;
  const oldBeat = (await import(`${values.reference}/src/nacos/routes/beat.js`)) as { parseBeat: (s: string) => unknown };
  runs['reference, full beat'] = () => {
    old.serviceOf!(full);
    oldBeat.parseBeat(beat);
  };
  runs['reference, light beat'] = () => {
    old.serviceOf!(light);
    old.clusterOf!(light);
    old.ipOf!(light);
    old.portOf!(light);
  };
}

console.log(`${N} reads a run, CPU µs per beat (user + system, this process)`);
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const [name, fn] of Object.entries(runs)) {
    for (let i = 0; i < 20_000; i++) fn();
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn();
    const d = process.cpuUsage(t0);
    console.log(`round ${round}  ${name.padEnd(24)} ${((d.user + d.system) / N).toFixed(2)} µs`);
  }
}
