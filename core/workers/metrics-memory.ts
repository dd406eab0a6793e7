/**
 * The primary's sum of its workers' metrics, kept from going down, because Prometheus reads a
 * counter that goes down as a reset and counts the whole new total as new (rate() spikes by the
 * node's entire history). Two things made the sum go down:
 *
 * - a worker that did not answer in time was left out of that scrape: its last answer stands in
 *   for it (stale by a scrape at most, never lower);
 * - a worker that died took its counts with it, and its replacement counts from zero: its last
 *   answer's counters and histograms are kept as retired and added to every sum after, as
 *   APISIX's counters (in nginx shared memory) outlive a worker. Its gauges go with it.
 */
import type { Registry } from 'prom-client';
import { aggregateMetricsJson } from '../metrics.js';
import type { WorkerAnswer } from './supervisor.js';

type Snapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

const MONOTONIC = new Set(['counter', 'histogram']);

export class WorkerMetricsMemory {
  /** Each worker's last answer, by process id (a replacement is another process). */
  private readonly last = new Map<number, Snapshot>();
  /** The counters and histograms of workers that are gone, summed into one snapshot. */
  private retired?: Snapshot;

  /** The snapshots to sum for this scrape, given every asked worker's answer. */
  async snapshots(answers: WorkerAnswer[]): Promise<Snapshot[]> {
    const asked = new Set(answers.map((a) => a.pid));
    for (const [pid, snapshot] of this.last) {
      if (asked.has(pid)) continue;
      this.last.delete(pid);
      await this.retire(snapshot);
    }
    const sums: Snapshot[] = [];
    for (const answer of answers) {
      if (answer.body !== undefined) this.last.set(answer.pid, answer.body as Snapshot);
      const snapshot = this.last.get(answer.pid);
      if (snapshot) sums.push(snapshot);
    }
    if (this.retired) sums.push(this.retired);
    return sums;
  }

  private async retire(snapshot: Snapshot): Promise<void> {
    const monotonic = snapshot.filter((metric) => MONOTONIC.has(String(metric.type)));
    this.retired = this.retired ? await aggregateMetricsJson([this.retired, monotonic]) : monotonic;
  }
}
