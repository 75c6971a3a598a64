/**
 * Counters and histograms for the probe path, where prom-client's own cost 4 µs a probe
 * (measured: it validates and hashes the label set on every observation). These keep plain numbers
 * per label value, looked up once and then bumped in place, and hand prom-client's registry the
 * same data shape its own metrics give when scraped, so the text format is prom-client's.
 */
import type client from 'prom-client';

type Labels = Record<string, string>;

interface Series {
  readonly labels: Labels;
  readonly buckets: Float64Array;
  count: number;
  sum: number;
}

/** Registers a metric object that prom-client formats like its own. */
function register(reg: client.Registry, name: string, help: string, type: 'counter' | 'histogram', values: () => unknown[]): void {
  reg.registerMetric({ name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }) } as unknown as client.Metric);
}

export interface FastHistogram {
  /** The series for these label values, to keep and `observe` on. */
  series(labels: Labels): { observe(v: number): void };
}

export function fastHistogram(reg: client.Registry, name: string, help: string, bounds: readonly number[]): FastHistogram {
  const all = new Map<string, Series>();
  register(reg, name, help, 'histogram', () =>
    [...all.values()].flatMap((s) => {
      let acc = 0;
      return [
        ...bounds.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: (acc += s.buckets[i]!) })),
        { metricName: `${name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count },
        { metricName: `${name}_sum`, labels: s.labels, value: s.sum },
        { metricName: `${name}_count`, labels: s.labels, value: s.count },
      ];
    }),
  );
  return {
    series(labels) {
      const key = JSON.stringify(labels);
      let s = all.get(key);
      if (!s) all.set(key, (s = { labels, buckets: new Float64Array(bounds.length), count: 0, sum: 0 }));
      const series = s;
      return {
        observe(v) {
          for (let i = 0; i < bounds.length; i++) {
            if (v <= bounds[i]!) {
              series.buckets[i]!++;
              break;
            }
          }
          series.count++;
          series.sum += v;
        },
      };
    },
  };
}

export interface FastCounter {
  series(labels: Labels): { inc(): void };
}

export function fastCounter(reg: client.Registry, name: string, help: string): FastCounter {
  const all = new Map<string, { labels: Labels; value: number }>();
  register(reg, name, help, 'counter', () => [...all.values()].map((s) => ({ labels: s.labels, value: s.value })));
  return {
    series(labels) {
      const key = JSON.stringify(labels);
      let s = all.get(key);
      if (!s) all.set(key, (s = { labels, value: 0 }));
      const series = s;
      return { inc: () => void series.value++ };
    },
  };
}
