/**
 * The stdio backend: one child process per session (child.ts), newline-delimited JSON-RPC on its
 * stdin and stdout. What the process does (spawn, stop sequence, stderr) is the child's; this
 * translates it into what a session expects of any backend.
 */
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEvents, BackendInfo } from './backend.js';
import { Child, type ChildOptions } from './child.js';
import { commandRefusal, type CommandLine } from './command-policy.js';
import { exitFailure } from './failure.js';
import { mcpHttpError } from './jsonrpc.js';
import type { Stoppable } from './runtime.js';
import { resolveReferences } from './secrets.js';
import { MCP_ERRORS } from './errors.js';

/** The close reason of a session whose server wrote a line over max_message_bytes. */
export const MESSAGE_TOO_LARGE = 'the MCP server sent a message larger than max_message_bytes';

/**
 * The child's environment for a start: for an MCP server of the catalog (`named`), `$env://`
 * references resolved (502 when one is not set). Then a last look at the command line: the Admin
 * API refused a command line the allow-list does not allow already, and this holds whatever
 * reached the bridge another way, and what a reference resolves to (a NODE_OPTIONS from the
 * gateway's environment): 503 naming the field, never its value (args may carry tokens); the log
 * has the whole reason.
 */
export function launchEnv(line: CommandLine, named: boolean, allowed: readonly string[], logger: Logger): Record<string, string> {
  const env = named ? resolveReferences('env', line.env) : { ...line.env };
  const refusal = commandRefusal({ command: line.command, args: line.args, env }, allowed);
  if (!refusal) return env;
  logger.error({ field: refusal.field, reason: refusal.reason }, 'mcp server command line not allowed; not started');
  throw mcpHttpError(MCP_ERRORS.GW_MCP_COMMAND_NOT_ALLOWED, `the MCP server's command line is not allowed by mcp.allowed_commands (${refusal.field})`, {
    data: { reason: 'not_allowed', field: refusal.field },
  });
}

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
          exit: info.spawnError ? undefined : { code: info.code, signal: info.signal },
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
