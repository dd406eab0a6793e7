/**
 * The batch processor on its own (plugins/kit/batch-processor.ts): when batches go out, how failures are
 * retried, what is dropped and counted, and how closing flushes.
 */
import { expect } from 'chai';
import { BatchProcessor, type BatchOptions, type DropReason } from '../../plugins/kit/index.js';
import { waitFor } from '../helpers/processes.js';

const OPTIONS: BatchOptions = { batchMaxSize: 3, inactiveTimeoutMs: 100, bufferDurationMs: 10_000, maxRetryCount: 0, retryDelayMs: 0, maxPendingEntries: 100, maxConcurrentBatches: 1 };

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
    // At once: by the time the push that filled the batch returns, not on any timer.
    expect(sent).to.deep.equal([[1, 2, 3]]);
    // Once the send settles (an event-loop turn, which always comes before a 100 ms timer).
    await new Promise((resolve) => setImmediate(resolve));
    expect(processor.pending).to.equal(2);
    expect(await waitFor(() => sent.length === 2, 1000)).to.equal(true);
    expect(sent[1]).to.deep.equal([4, 5]);
    expect(processor.pending).to.equal(0);
  });

  it('sends a batch by buffer_duration even while entries keep arriving', async () => {
    // inactive_timeout far away, so only buffer_duration can send, however slow the machine.
    const { processor, sent } = harness({ batchMaxSize: 1000, inactiveTimeoutMs: 60_000, bufferDurationMs: 300 });
    const started = Date.now();
    let pushed = 0;
    const sentAfter = await waitFor(() => {
      if (sent.length > 0) return true;
      processor.push(pushed++);
      return false;
    }, 3000, 20);
    expect(sentAfter, 'a batch went out while entries kept arriving').to.equal(true);
    expect(Date.now() - started).to.be.at.least(300);
    expect(sent).to.have.length(1);
    expect(sent[0]).to.deep.equal([...Array(pushed).keys()]);
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
    // Lower bounds only: a slow machine stretches delays, it never shortens them, so 50 then at
    // least 100 shows the doubling (a constant delay would give about 50 twice).
    expect(attempts[1] - attempts[0]).to.be.at.least(49);
    expect(attempts[2] - attempts[1]).to.be.at.least(99);
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
