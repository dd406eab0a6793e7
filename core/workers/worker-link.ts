/**
 * A worker's side of the IPC channel to its primary (node:cluster): publish to the other workers,
 * hear what they publish, answer the primary's questions, obey its drain order.
 */
import { isPrimaryMessage, type PeerTopic, type PrimaryQuestion, type Question, type WorkerMessage } from './messages.js';

/** How the workers of one node reach each other: through their primary. */
export interface PeerLink {
  /**
   * Sends `body` to every other worker. A retained message is also kept by the primary and given
   * to each worker that starts later (the last one per topic), like an MQTT retained message.
   */
  publish(topic: PeerTopic, body: unknown, retain?: boolean): void;
  subscribe(topic: PeerTopic, listener: (body: unknown) => void): () => void;
}

/** Messages kept per topic until someone subscribes (one per worker is what topics send). */
const UNHEARD_LIMIT = 256;

export class WorkerLink implements PeerLink {
  private readonly listeners = new Map<PeerTopic, Set<(body: unknown) => void>>();
  /** Messages of a topic nobody listens to yet (its subscriber starts later than the link): replayed to the first. */
  private readonly unheard = new Map<PeerTopic, unknown[]>();
  private readonly answers = new Map<Question, () => unknown>();
  private readonly replies = new Map<number, { resolve: (body: unknown) => void; reject: (err: Error) => void }>();
  private nextQuestion = 1;
  private drainListener?: () => void;
  private reopenListener?: (signal: NodeJS.Signals) => void;

  constructor(readonly id: number) {
    process.on('message', this.onMessage);
    // Registered first, then said: the primary sends nothing before this arrives.
    this.send({ tg: 'hello' });
  }

  publish(topic: PeerTopic, body: unknown, retain = false): void {
    this.send({ tg: 'publish', topic, body, retain });
  }

  subscribe(topic: PeerTopic, listener: (body: unknown) => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    const missed = this.unheard.get(topic);
    this.unheard.delete(topic);
    for (const body of missed ?? []) listener(body);
    return () => set.delete(listener);
  }

  /** How this worker answers `question` (a JSON-serialisable value, or a promise of one). */
  answer(question: Question, handler: () => unknown): void {
    this.answers.set(question, handler);
  }

  /** Asks the primary; rejects when it has not answered within `timeoutMs`. */
  askPrimary(question: PrimaryQuestion, timeoutMs: number): Promise<unknown> {
    const id = this.nextQuestion++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(id);
        reject(new Error(`the primary did not answer ${question} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.replies.set(id, {
        resolve: (body) => (clearTimeout(timer), resolve(body)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      this.send({ tg: 'ask-primary', id, question });
    });
  }

  onDrain(listener: () => void): void {
    this.drainListener = listener;
  }

  onReopenLogs(listener: (signal: NodeJS.Signals) => void): void {
    this.reopenListener = listener;
  }

  ready(): void {
    this.send({ tg: 'ready' });
  }

  close(): void {
    process.off('message', this.onMessage);
  }

  private send(message: WorkerMessage): void {
    // Once the primary is gone the channel is closed; node:cluster ends the worker then anyway.
    if (process.connected) process.send?.(message, undefined, {}, () => undefined);
  }

  private readonly onMessage = (message: unknown): void => {
    if (!isPrimaryMessage(message)) return;
    switch (message.tg) {
      case 'message': {
        const listeners = this.listeners.get(message.topic);
        if (listeners && listeners.size > 0) {
          for (const listener of listeners) listener(message.body);
          return;
        }
        const missed = this.unheard.get(message.topic) ?? [];
        if (missed.length < UNHEARD_LIMIT) missed.push(message.body);
        this.unheard.set(message.topic, missed);
        return;
      }
      case 'ask': {
        const handler = this.answers.get(message.question);
        const id = message.id;
        Promise.resolve()
          .then(() => (handler ? handler() : Promise.reject(new Error(`no answer for ${message.question}`))))
          .then(
            (body) => this.send({ tg: 'answer', id, body }),
            (err: Error) => this.send({ tg: 'answer', id, body: undefined, error: err.message }),
          );
        return;
      }
      case 'reply': {
        const waiting = this.replies.get(message.id);
        this.replies.delete(message.id);
        if (message.error !== undefined) waiting?.reject(new Error(message.error));
        else waiting?.resolve(message.body);
        return;
      }
      case 'drain':
        this.drainListener?.();
        return;
      case 'reopen-logs':
        this.reopenListener?.(message.signal);
        return;
    }
  };
}
