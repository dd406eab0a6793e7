/**
 * The primary's side of `gateway.workers` above 1 (node:cluster): it forks the workers, replaces
 * one that dies (the others keep serving meanwhile), passes messages between them, asks them
 * questions (status, metrics) and drains them all on a stop. It holds no plugins, no Redis and no
 * children: its death takes every worker with it (node:cluster ends a worker whose primary is
 * gone), so it does as little as it can.
 *
 * Worker ids run from 1 to N and stay with their slot: a replacement takes the id of the worker
 * it replaces, so worker 1 is always the one serving the Admin API.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../logger.js';
import { isWorkerMessage, WORKER_ID_ENV, type PeerTopic, type PrimaryMessage, type PrimaryQuestion, type Question, type WorkerMessage } from './messages.js';

export interface SupervisorOptions {
  count: number;
  logger: Logger;
  /** Environment for every worker, on top of the primary's (listen addresses resolved to fixed ports). */
  env: Record<string, string>;
  /** Milliseconds a drain may take before the workers still running are killed. */
  drainMs: number;
}

export interface WorkerState {
  id: number;
  pid?: number;
  ready: boolean;
  /** Times this slot's worker was replaced after dying. */
  restarts: number;
}

export interface WorkerAnswer {
  id: number;
  pid: number;
  body?: unknown;
  /** No answer in time, or the worker failed to answer. */
  error?: string;
}

interface Slot {
  id: number;
  worker?: Worker;
  ready: boolean;
  startedAt: number;
  restarts: number;
  /** Deaths in a row of workers that lived less than STABLE_MS. */
  quickDeaths: number;
  respawnTimer?: NodeJS.Timeout;
}

/** A worker that lived this long before dying is replaced at once; quicker deaths back off. */
const STABLE_MS = 30_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

export class Supervisor {
  private readonly slots: Slot[];
  /** The last retained message of each topic from each worker (slot id). */
  private readonly retained = new Map<string, { slot: number; topic: PeerTopic; body: unknown }>();
  private readonly pending = new Map<number, { worker: Worker; resolve: (answer: { body?: unknown; error?: string }) => void }>();
  private nextQuestion = 1;
  private readonly answerers = new Map<PrimaryQuestion, () => Promise<unknown>>();
  private started = false;
  private startup?: { resolve: () => void; reject: (err: Error) => void };
  private stopping?: Promise<void>;
  private allExited?: () => void;

  constructor(private readonly options: SupervisorOptions) {
    this.slots = Array.from({ length: options.count }, (_, i) => ({ id: i + 1, ready: false, startedAt: 0, restarts: 0, quickDeaths: 0 }));
  }

  /** Forks every worker; resolves once all are ready, rejects if one dies first (a bad plugin, say). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.startup = { resolve, reject };
      for (const slot of this.slots) this.fork(slot);
    });
  }

  /** How the primary answers a worker's `question`. */
  answer(question: PrimaryQuestion, handler: () => Promise<unknown>): void {
    this.answerers.set(question, handler);
  }

  workers(): WorkerState[] {
    return this.slots.map((slot) => ({ id: slot.id, pid: slot.worker?.process.pid, ready: slot.ready, restarts: slot.restarts }));
  }

  /** Asks every ready worker; a worker that does not answer within `timeoutMs` gets an error entry. */
  ask(question: Question, timeoutMs: number): Promise<WorkerAnswer[]> {
    const asked = this.slots.filter((slot) => slot.ready && slot.worker);
    return Promise.all(
      asked.map(async (slot) => {
        const worker = slot.worker!;
        const id = this.nextQuestion++;
        const answer = await new Promise<{ body?: unknown; error?: string }>((resolve) => {
          const timer = setTimeout(() => {
            this.pending.delete(id);
            resolve({ error: `no answer within ${timeoutMs} ms` });
          }, timeoutMs);
          this.pending.set(id, {
            worker,
            resolve: (value) => {
              clearTimeout(timer);
              this.pending.delete(id);
              resolve(value);
            },
          });
          this.send(worker, { tg: 'ask', id, question });
        });
        return { id: slot.id, pid: worker.process.pid ?? 0, ...answer };
      }),
    );
  }

  /** Every worker reopens its log files (SIGHUP, SIGUSR1 to the primary). */
  reopenLogs(signal: NodeJS.Signals): void {
    for (const slot of this.slots) if (slot.worker) this.send(slot.worker, { tg: 'reopen-logs', signal });
  }

  /**
   * Tells every worker to drain (each stops accepting, ends its MCP sessions, lets requests in
   * flight finish within timeouts.shutdown, exits); kills those still running after `drainMs`.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const slot of this.slots) clearTimeout(slot.respawnTimer);
      const exited = new Promise<void>((resolve) => (this.allExited = resolve));
      this.checkAllExited();
      for (const slot of this.slots) if (slot.worker) this.send(slot.worker, { tg: 'drain' });
      const timer = setTimeout(() => {
        for (const slot of this.slots) {
          if (!slot.worker) continue;
          this.options.logger.warn({ worker: slot.id, pid: slot.worker.process.pid }, 'worker still running after the drain; killing it');
          slot.worker.process.kill('SIGKILL');
        }
      }, this.options.drainMs);
      await exited;
      clearTimeout(timer);
    })();
    return this.stopping;
  }

  /** Kills every worker at once (a second stop signal). */
  kill(): void {
    for (const slot of this.slots) slot.worker?.process.kill('SIGKILL');
  }

  private fork(slot: Slot): void {
    slot.respawnTimer = undefined;
    slot.ready = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ ...this.options.env, [WORKER_ID_ENV]: String(slot.id) });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.onMessage(slot, worker, message);
    });
    // 'error' without a listener would end the primary (an IPC send to a worker that just died).
    worker.on('error', (err) => this.options.logger.debug({ err, worker: slot.id }, 'worker channel error'));
    worker.once('exit', (code, signal) => this.onExit(slot, worker, code, signal));
  }

  private onMessage(slot: Slot, worker: Worker, message: WorkerMessage): void {
    switch (message.tg) {
      case 'hello':
        for (const { topic, body } of this.retained.values()) this.send(worker, { tg: 'message', topic, body });
        return;
      case 'ready':
        slot.ready = true;
        if (this.started) this.options.logger.info({ worker: slot.id, pid: worker.process.pid }, 'worker ready');
        if (!this.started && this.slots.every((s) => s.ready)) {
          this.started = true;
          this.startup?.resolve();
        }
        return;
      case 'publish':
        if (message.retain) this.retained.set(`${message.topic}\u0000${slot.id}`, { slot: slot.id, topic: message.topic, body: message.body });
        for (const other of this.slots) {
          if (other !== slot && other.worker) this.send(other.worker, { tg: 'message', topic: message.topic, body: message.body });
        }
        return;
      case 'answer':
        this.pending.get(message.id)?.resolve({ body: message.body, error: message.error });
        return;
      case 'ask-primary': {
        const handler = this.answerers.get(message.question);
        const id = message.id;
        (handler ? handler() : Promise.reject(new Error(`no answer for ${message.question}`))).then(
          (body) => this.send(worker, { tg: 'reply', id, body }),
          (err: Error) => this.send(worker, { tg: 'reply', id, body: undefined, error: err.message }),
        );
        return;
      }
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    for (const question of this.pending.values()) if (question.worker === worker) question.resolve({ error: 'the worker exited' });
    this.withdraw(slot);
    if (this.stopping) {
      this.checkAllExited();
      return;
    }
    if (!this.started) {
      this.startup?.reject(new Error(`worker ${slot.id} exited during start-up (${signal ?? `code ${code}`})`));
      this.startup = undefined;
      this.kill();
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.quickDeaths = lived < STABLE_MS ? slot.quickDeaths + 1 : 0;
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(FIRST_BACKOFF_MS * 2 ** (slot.quickDeaths - 1), MAX_BACKOFF_MS);
    slot.restarts += 1;
    this.options.logger.error({ worker: slot.id, pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'worker exited; starting another');
    slot.respawnTimer = setTimeout(() => this.fork(slot), delay);
  }

  /**
   * What a dead worker had announced no longer holds (where its sessions could be reached): the
   * others get each of its retained messages once more, marked `withdrawn`.
   */
  private withdraw(slot: Slot): void {
    for (const [key, entry] of this.retained) {
      if (entry.slot !== slot.id) continue;
      this.retained.delete(key);
      const body = typeof entry.body === 'object' && entry.body !== null ? { ...entry.body, withdrawn: true } : entry.body;
      for (const other of this.slots) if (other.worker) this.send(other.worker, { tg: 'message', topic: entry.topic, body });
    }
  }

  private checkAllExited(): void {
    if (this.slots.every((slot) => !slot.worker)) this.allExited?.();
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    // A worker that died a moment ago: its exit is handled on its own.
    if (worker.isConnected()) worker.send(message, undefined, () => undefined);
  }
}
