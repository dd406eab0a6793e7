import { expect } from 'chai';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { KeyedCounter, KeyedHistogram } from '../../core/keyed-series.js';
import { LATENCY_BUCKETS_MS } from '../../core/http-metrics.js';

/**
 * The HTTP metrics moved from prom-client's Counter and Histogram to keyed series; a scrape, and
 * the workers' aggregation, must not be able to tell.
 */
describe('keyed series (the per-request HTTP metrics)', () => {
  function recordBoth(seed: number) {
    const reference = new Registry();
    const keyed = new Registry();
    const counter = new Counter({ name: 'c_total', help: 'a counter', labelNames: ['code', 'route', 'consumer'] as const, registers: [reference] });
    const histogram = new Histogram({ name: 'h', help: 'a "histogram"\nof latencies', labelNames: ['type', 'route'] as const, buckets: LATENCY_BUCKETS_MS, registers: [reference] });
    const keyedCounter = new KeyedCounter<'code' | 'route' | 'consumer'>(keyed, 'c_total', 'a counter');
    const keyedHistogram = new KeyedHistogram<'type' | 'route'>(keyed, 'h', 'a "histogram"\nof latencies', LATENCY_BUCKETS_MS);
    let x = seed;
    const random = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const routes = ['r1', 'orders', 'a "quoted" \\ route\nname', ''];
    for (let i = 0; i < 500; i++) {
      const code = String([200, 404, 502][Math.floor(random() * 3)]);
      const route = routes[Math.floor(random() * routes.length)];
      const consumer = random() < 0.5 ? '' : 'jack';
      const by = Math.floor(random() * 1000);
      counter.inc({ code, route, consumer }, by);
      keyedCounter.at(`${code}|${route}|${consumer}`, () => ({ code, route, consumer })).inc(by);
      const type = random() < 0.5 ? 'request' : 'upstream';
      // Bounds themselves, values between them and above the last.
      const value = random() < 0.2 ? LATENCY_BUCKETS_MS[Math.floor(random() * LATENCY_BUCKETS_MS.length)] : random() * 70000;
      histogram.observe({ type, route }, value);
      keyedHistogram.at(`${type}|${route}`, () => ({ type, route })).observe(value);
    }
    return { reference, keyed };
  }

  it('scrapes to the same text as prom-client Counter and Histogram fed the same values', async () => {
    for (const seed of [1, 2, 3]) {
      const { reference, keyed } = recordBoth(seed);
      const text = await keyed.metrics();
      expect(text).to.equal(await reference.metrics());
      expect(text).to.contain('h_bucket{le="+Inf",type=');
    }
  });

  it('aggregates across workers as prom-client metrics do', async () => {
    const a = recordBoth(7);
    const b = recordBoth(8);
    const reference = AggregatorRegistry.aggregate([await a.reference.getMetricsAsJSON(), await b.reference.getMetricsAsJSON()]);
    const keyed = AggregatorRegistry.aggregate([await a.keyed.getMetricsAsJSON(), await b.keyed.getMetricsAsJSON()]);
    expect(await keyed.metrics()).to.equal(await reference.metrics());
  });

  it('starts empty again after a reset', async () => {
    const { keyed } = recordBoth(4);
    keyed.resetMetrics();
    expect(await keyed.metrics()).to.equal('# HELP c_total a counter\n# TYPE c_total counter\n\n# HELP h a "histogram"\\nof latencies\n# TYPE h histogram\n');
  });
});
