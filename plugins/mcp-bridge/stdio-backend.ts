/**
 * The stdio backend: one child process per session (child.ts), newline-delimited JSON-RPC on its
 * stdin and stdout. What the process does (spawn, stop sequence, stderr) is the child's; this
 * translates it into what a session expects of any backend.
 */
import type { Backend, BackendEvents, BackendInfo } from './backend.js';
import { Child, type ChildOptions } from './child.js';
import { exitFailure } from './failure.js';
import type { Stoppable } from './runtime.js';

/** The close reason of a session whose server wrote a line over max_message_bytes. */
export const MESSAGE_TOO_LARGE = 'the MCP server sent a message larger than max_message_bytes';

export class StdioBackend implements Backend, Stoppable {
  readonly started: Promise<void>;
  private readonly child: Child;
  private ended = false;

  constructor(options: ChildOptions, events: BackendEvents) {
    const end: BackendEvents['ended'] = (info) => {
      if (this.ended) return;
      this.ended = true;
      events.ended(info);
    };
    this.child = new Child(options, {
      line: (line) => events.message(line),
      // The child is stopped by the session's close; its exit then is a requested one.
      overflow: () => end({ reason: MESSAGE_TOO_LARGE, status: 502, requested: false }),
      exit: (info) =>
        end({
          reason: info.spawnError ? 'the MCP server could not be started' : 'the MCP server exited',
          failure: exitFailure(info, options.cwd),
          status: 502,
          requested: info.requested,
          crash: info.requested ? undefined : info.spawnError ? 'spawn_failed' : 'exited',
        }),
    });
    this.started = this.child.started;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get backlog(): number {
    return this.child.pendingInput;
  }

  send(text: string): void {
    this.child.write(`${text}\n`);
  }

  pause(): void {
    this.child.pause();
  }

  resume(): void {
    this.child.resume();
  }

  stop(): Promise<void> {
    return this.child.stop();
  }

  describe(): BackendInfo {
    return { kind: 'stdio', pid: this.child.pid };
  }
}
