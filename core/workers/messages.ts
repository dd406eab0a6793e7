/**
 * What a primary and its workers say to each other over node:cluster's IPC channel. Only small
 * control messages travel here (a catalog revision, a drain order, a status or metrics answer):
 * request and stream bytes never do, as a 1 MiB message costs milliseconds to pass.
 * Every message carries `tg`, so messages of anything else sharing the channel are ignored.
 */

/** Topics workers publish to each other through the primary. */
export type PeerTopic =
  /** The embedded catalog's writer acknowledged a write: `{ revision }` (retained). */
  | 'catalog'
  /** A catalog event (a plugin reload) for every worker: `{ event }`. */
  | 'catalog-event'
  /** Where a worker's relay listener is: `{ token, address }` (retained; withdrawn when it dies). */
  | 'relay';

/** What the primary may ask a worker. */
export type Question = 'status' | 'ready' | 'metrics';

/** What a worker may ask its primary: the node's metrics, every worker's summed (the Admin API's `/metrics`). */
export type PrimaryQuestion = 'node-metrics';

export type WorkerMessage =
  /** The worker listens for messages now (sent first: on Node 20, messages to an ESM worker before it listens are lost). */
  | { tg: 'hello' }
  /** Started: its listeners are bound and its catalog is loaded. */
  | { tg: 'ready' }
  | { tg: 'publish'; topic: PeerTopic; body: unknown; retain: boolean }
  | { tg: 'answer'; id: number; body: unknown; error?: string }
  | { tg: 'ask-primary'; id: number; question: PrimaryQuestion };

export type PrimaryMessage =
  | { tg: 'message'; topic: PeerTopic; body: unknown }
  | { tg: 'ask'; id: number; question: Question }
  | { tg: 'reply'; id: number; body: unknown; error?: string }
  /** Stop accepting, let requests in flight finish, exit (what SIGTERM does to one gateway). */
  | { tg: 'drain' }
  /** Reopen log files (the primary got SIGHUP or SIGUSR1). */
  | { tg: 'reopen-logs'; signal: NodeJS.Signals };

function isTollgateMessage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { tg?: unknown }).tg === 'string';
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return isTollgateMessage(value);
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return isTollgateMessage(value);
}

/** Environment variables a primary sets on each worker it forks. */
export const WORKER_ID_ENV = 'TOLLGATE_WORKER_ID';
