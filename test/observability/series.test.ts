// The per-request metric series: what a scrape shows is what prom-client's own Counter and
// Histogram show for the same observations, in both of its formats.
import { Counter, Histogram, Registry } from 'prom-client';
import { counterFamily, histogramFamily } from '../../src/observability/series.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVATIONS: readonly [string, number][] = [
  ['default/a', 0.0005],
  ['default/a', 0.001], // on a bound: counted in that bucket
  ['default/a', 0.05],
  ['default/b', 2.5], // above every bound: +Inf only
  ['default/a', 0.7],
  ['none', 0],
];

function registries() {
  const ours = new Registry();
  const theirs = new Registry();
  const requests = counterFamily({ registry: ours, name: 'requests_total', help: 'Requests.', labelNames: ['route', 'status_class'] });
  const seconds = histogramFamily({ registry: ours, name: 'request_seconds', help: 'Seconds.', labelNames: ['route'], buckets: BUCKETS });
  const counter = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route', 'status_class'], registers: [theirs] });
  const histogram = new Histogram({ name: 'request_seconds', help: 'Seconds.', labelNames: ['route'], buckets: BUCKETS, registers: [theirs] });
  const observe = (route: string, value: number) => {
    requests({ route, status_class: '2xx' }).inc();
    seconds({ route }).observe(value);
    counter.inc({ route, status_class: '2xx' });
    histogram.observe({ route }, value);
  };
  return { ours, theirs, observe, requests, seconds };
}

describe('metric series', () => {
  it("expose what prom-client's Counter and Histogram expose for the same observations", async () => {
    const { ours, theirs, observe } = registries();
    for (const [route, value] of OBSERVATIONS) observe(route, value);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    // Twice: a scrape changes nothing.
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('keep one series per label set, whoever asks for it', async () => {
    const { ours, requests, seconds } = registries();
    expect(requests({ route: 'default/a', status_class: '2xx' })).toBe(requests({ route: 'default/a', status_class: '2xx' }));
    expect(seconds({ route: 'default/a' })).toBe(seconds({ route: 'default/a' }));
    requests({ route: 'default/a', status_class: '2xx' }).inc();
    requests({ route: 'default/a', status_class: '2xx' }).inc();
    requests({ route: 'default/a', status_class: '5xx' }).inc();
    expect(await ours.metrics()).toContain('requests_total{route="default/a",status_class="2xx"} 2\nrequests_total{route="default/a",status_class="5xx"} 1');
  });

  it('start again from zero on reset, as prom-client does', async () => {
    const { ours, theirs, observe } = registries();
    for (const [route, value] of OBSERVATIONS) observe(route, value);
    ours.resetMetrics();
    theirs.resetMetrics();
    observe('default/a', 0.02);
    expect((await ours.metrics()).split('\n').filter((line) => line.startsWith('request_seconds') && line.includes('default/a'))).toEqual(
      (await theirs.metrics()).split('\n').filter((line) => line.startsWith('request_seconds') && line.includes('default/a')),
    );
  });
});
