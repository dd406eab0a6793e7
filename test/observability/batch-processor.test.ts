/**
 * The batch processor on its own (core/batch-processor.ts): when batches go out, how failures are
 * retried, what is dropped and counted, and how closing flushes.
 */
import { expect } from 'chai';
import { BatchProcessor, type BatchOptions, type DropReason } from '../../core/batch-processor.js';
import { waitFor } from '../helpers/processes.js';
import { sleep } from '../plugins/support.js';

const OPTIONS: BatchOptions = { batchMaxSize: 3, inactiveTimeoutMs: 100, bufferDurationMs: 10_000, maxRetryCount: 0, retryDelayMs: 0, maxPendingEntries: 100 };

function harness(options: Partial<BatchOptions> = {}, send?: (batch: number[], signal: AbortSignal) => Promise<void>) {
  const sent: number[][] = [];
  const dropped: Array<[number, DropReason]> = [];
  let failures = 0;
  const processor = new BatchProcessor<number>(
    { ...OPTIONS, ...options },
    send ??
      (async (batch) => {
        sent.push(batch);
      }),
    { dropped: (n, reason) => dropped.push([n, reason]), failed: () => (failures += 1) },
  );
  return { processor, sent, dropped, failures: () => failures };
}

describe('batch processor', () => {
  it('sends a full batch at once and the rest after inactive_timeout', async () => {
    const { processor, sent } = harness();
    for (let i = 1; i <= 5; i++) processor.push(i);
    await sleep(10);
    expect(sent).to.deep.equal([[1, 2, 3]]);
    expect(processor.pending).to.equal(2);
    expect(await waitFor(() => sent.length === 2, 1000)).to.equal(true);
    expect(sent[1]).to.deep.equal([4, 5]);
    expect(processor.pending).to.equal(0);
  });

  it('sends a batch by buffer_duration even while entries keep arriving', async () => {
    const { processor, sent } = harness({ batchMaxSize: 1000, inactiveTimeoutMs: 200, bufferDurationMs: 300 });
    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      processor.push(i);
      await sleep(50);
    }
    expect(sent.length).to.equal(1);
    expect(Date.now() - started).to.be.at.least(300);
    await processor.close(1000);
  });

  it('retries with doubling delays, then drops and counts', async () => {
    const attempts: number[] = [];
    const { processor, dropped, failures } = harness({ batchMaxSize: 1, maxRetryCount: 2, retryDelayMs: 50 }, async () => {
      attempts.push(Date.now());
      throw new Error('collector down');
    });
    processor.push(1);
    expect(await waitFor(() => dropped.length === 1, 2000)).to.equal(true);
    expect(dropped).to.deep.equal([[1, 'send_failed']]);
    expect(failures()).to.equal(3);
    expect(attempts[1] - attempts[0]).to.be.within(40, 150);
    expect(attempts[2] - attempts[1]).to.be.within(90, 250);
  });

  it('holds at most max_pending_entries, dropping the rest, and never waits', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { processor, sent, dropped } = harness({ batchMaxSize: 2, maxPendingEntries: 5 }, async (batch) => {
      await gate;
      sent.push(batch);
    });
    const started = performance.now();
    const accepted = [...Array(20).keys()].map((i) => processor.push(i));
    expect(performance.now() - started).to.be.lessThan(50);
    expect(accepted.filter(Boolean)).to.have.length(5);
    expect(processor.pending).to.equal(5);
    expect(dropped.reduce((sum, [n]) => sum + n, 0)).to.equal(15);
    release();
    await processor.close(1000);
    expect(sent.flat()).to.deep.equal([0, 1, 2, 3, 4]);
  });

  it('on close sends what is left, and drops what cannot be sent by the deadline', async () => {
    const { processor, sent } = harness({ batchMaxSize: 100, inactiveTimeoutMs: 60_000 });
    processor.push(1);
    processor.push(2);
    await processor.close(1000);
    expect(sent).to.deep.equal([[1, 2]]);
    expect(processor.push(3)).to.equal(false);

    const stuck = harness({ batchMaxSize: 1 }, (_batch, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    stuck.processor.push(1);
    stuck.processor.push(2);
    const started = Date.now();
    await stuck.processor.close(100);
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(stuck.dropped.reduce((sum, [n]) => sum + n, 0)).to.equal(2);
    expect(stuck.dropped.every(([, reason]) => reason === 'shutdown')).to.equal(true);
  });
});
