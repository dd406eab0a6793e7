/**
 * The reply to a JSON-RPC batch on Streamable HTTP (MCP 2025-03-26): one HTTP answer for several
 * requests. While only responses come, they are held and sent together as one JSON array, in the
 * order of the requests; as soon as anything else comes first for one of them (progress, logging,
 * a sampling request), or a request takes long, the reply becomes one SSE stream that carries the
 * responses already held, then everything else for these requests, and ends after the last
 * response (2025-03-26 transports, "Sending Messages to the Server").
 */
import type { Outcome, PendingRequest } from './pending.js';
import type { Stream } from './streams.js';

export class BatchReply {
  readonly outcome: Promise<Outcome>;
  readonly members: PendingRequest[] = [];
  stream?: Stream;
  private readonly answered = new Map<PendingRequest, string>();
  private settleOutcome!: (outcome: Outcome) => void;
  private settled = false;

  constructor() {
    this.outcome = new Promise<Outcome>((resolve) => (this.settleOutcome = resolve));
  }

  /** Nothing has been decided about the HTTP reply yet. */
  get waiting(): boolean {
    return !this.settled;
  }

  add(member: PendingRequest): void {
    this.members.push(member);
  }

  /** A member's response while the reply is still JSON; the array goes out once all are in. */
  answer(member: PendingRequest, line: string): void {
    this.answered.set(member, line);
    if (this.answered.size < this.members.length) return;
    this.settle({ kind: 'json', line: `[${this.members.map((m) => this.answered.get(m)).join(',')}]`, status: 200 });
  }

  /** The reply becomes `stream`; returns the responses held so far, for the stream to carry first. */
  upgrade(stream: Stream): { held: string[]; open: number } {
    this.stream = stream;
    for (const member of this.members) member.stream = stream;
    this.settle({ kind: 'sse', stream });
    return { held: [...this.answered.values()], open: this.members.length - this.answered.size };
  }

  /** The client left before anything was sent. */
  gone(): void {
    this.settle({ kind: 'gone' });
  }

  private settle(outcome: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.settleOutcome(outcome);
  }
}
