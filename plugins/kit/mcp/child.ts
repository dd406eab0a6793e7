/**
 * One stdio MCP server process: spawned without a shell, with only the configured environment, as
 * the leader of its own process group so that signals reach whatever it starts (npx → node, a
 * Python launcher → its interpreter). Stopping follows the MCP stdio shutdown rule: close stdin,
 * wait, SIGTERM the group, wait, SIGKILL the group. Since no signal to the gateway reaches the
 * group, the reaper (reaper.ts) runs the same sequence when the gateway dies without stopping it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { homedir } from 'node:os';
import type { Logger } from '../../../core/logger.js';
import { LineSplitter } from './line-splitter.js';
import type { BridgeSettings, Stoppable } from './runtime.js';

export interface ChildOptions {
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd?: string;
  maxLineBytes: number;
  settings: BridgeSettings;
  logger: Logger;
  /** Each line of stderr (cut to 1 KiB, control characters removed), logged or not. */
  onStderr?(line: string): void;
}

export interface ChildEvents {
  /** One line of stdout (not yet validated as JSON). */
  line(line: string): void;
  /** A stdout line passed maxLineBytes; the child is being stopped. */
  overflow(): void;
  /** The process is gone (or never started); stdout has been read to the end. */
  exit(info: ExitInfo): void;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES…). */
  spawnError?: Error;
  /** True when the gateway asked it to stop. */
  requested: boolean;
}

const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';
const STDERR_LINE_BYTES = 1024;
/** How long to wait for the rest of stdout once the process has exited (a grandchild may hold the pipe). */
const STDOUT_DRAIN_MS = 200;
const POLL_MS = 25;

export class Child implements Stoppable {
  readonly started: Promise<void>;
  private readonly proc: ChildProcessWithoutNullStreams;
  private exited = false;
  private exitInfo?: ExitInfo;
  private stopRequested = false;
  private stopping?: Promise<void>;
  private paused = false;
  private stdoutEnded = false;
  private overflowed = false;
  private readonly exitWaiters = new Set<() => void>();
  private readonly stderr: StderrLog;

  constructor(
    private readonly options: ChildOptions,
    private readonly events: ChildEvents,
  ) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? FALLBACK_PATH,
      HOME: process.env.HOME ?? homedir(),
      ...options.env,
    };
    this.proc = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      // Its own process group: SIGTERM/SIGKILL to -pid reach grandchildren, and a Ctrl-C meant
      // for the gateway does not kill children behind its back.
      detached: true,
      windowsHide: true,
    });
    this.stderr = new StderrLog(options.logger, options.settings.stderrLinesPerMinute, options.onStderr);
    this.started = new Promise<void>((resolve, reject) => {
      this.proc.once('spawn', () => {
        options.logger.info({ child_pid: this.proc.pid, command: options.command, arg_count: options.args.length }, 'mcp server started');
        resolve();
      });
      // `on`, not `once`: a ChildProcess may emit 'error' more than once (a failed spawn, later a
      // failed kill), and an 'error' without a listener ends the gateway.
      this.proc.on('error', (err) => {
        if (this.proc.pid === undefined) {
          reject(err);
          this.onExit({ code: null, signal: null, spawnError: err, requested: this.stopRequested });
        } else {
          options.logger.warn({ child_pid: this.proc.pid, err }, 'mcp server process error');
        }
      });
    });
    // Callers handle a failed start through `exit`; an unobserved rejection must not crash us.
    this.started.catch(() => undefined);

    const splitter = new LineSplitter(
      options.maxLineBytes,
      (line) => {
        if (!this.overflowed) events.line(line);
      },
      () => {
        this.overflowed = true;
        this.proc.stdout.pause();
        options.logger.warn({ child_pid: this.proc.pid, limit: options.maxLineBytes }, 'mcp server wrote a line longer than max_message_bytes');
        events.overflow();
      },
    );
    this.proc.stdout.on('data', (chunk: Buffer) => {
      if (!this.overflowed) splitter.push(chunk);
    });
    this.proc.stdout.once('end', () => {
      this.stdoutEnded = true;
      this.wake();
    });
    this.proc.stdout.on('error', () => undefined);
    this.proc.stderr.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    this.proc.stderr.on('error', () => undefined);
    // EPIPE when the child closed its stdin or died; the exit handler reports it.
    this.proc.stdin.on('error', () => undefined);
    this.proc.once('exit', (code, signal) => void this.afterExit(code, signal));
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Bytes written to stdin that the child has not read yet. */
  get pendingInput(): number {
    return this.proc.stdin.writableLength;
  }

  write(line: string): void {
    if (this.exited || this.stopRequested || this.proc.stdin.destroyed) return;
    this.proc.stdin.write(line);
  }

  /** Backpressure from a slow client: stop reading stdout, so the child blocks on its writes. */
  pause(): void {
    if (!this.paused && !this.overflowed) {
      this.paused = true;
      this.proc.stdout.pause();
    }
  }

  resume(): void {
    if (this.paused && !this.overflowed) {
      this.paused = false;
      this.proc.stdout.resume();
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.runStop();
    return this.stopping;
  }

  private async runStop(): Promise<void> {
    this.stopRequested = true;
    const { stopStdinWait, stopTermWait } = this.options.settings;
    let termSent = false;
    if (!this.exited && this.proc.pid !== undefined) {
      this.proc.stdin.end();
      // Reading on keeps a child that writes while shutting down from blocking on a full pipe.
      this.proc.stdout.resume();
      if (!(await this.waitExit(stopStdinWait))) {
        this.signalGroup('SIGTERM');
        termSent = true;
        if (!(await this.waitExit(stopTermWait))) {
          this.options.logger.warn({ child_pid: this.proc.pid }, 'mcp server ignored SIGTERM; killing its process group');
          this.signalGroup('SIGKILL');
          await this.waitExit(stopTermWait);
        }
      }
    }
    await this.reapGroup(termSent);
  }

  /** Whatever the leader left behind in its group (a grandchild) gets the same treatment. */
  private async reapGroup(termSent: boolean): Promise<void> {
    if (!this.groupAlive()) return;
    if (!termSent) {
      this.signalGroup('SIGTERM');
      const deadline = Date.now() + this.options.settings.stopTermWait;
      while (this.groupAlive() && Date.now() < deadline) await sleep(POLL_MS);
      if (!this.groupAlive()) return;
    }
    this.signalGroup('SIGKILL');
  }

  private groupAlive(): boolean {
    if (this.proc.pid === undefined) return false;
    try {
      process.kill(-this.proc.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private async afterExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    // Let the last lines of stdout through before reporting the exit, unless something else
    // (a grandchild) still holds the pipe open.
    const deadline = Date.now() + STDOUT_DRAIN_MS;
    while (!this.stdoutEnded && !this.overflowed && Date.now() < deadline) {
      this.proc.stdout.resume();
      await sleep(POLL_MS);
    }
    this.onExit({ code, signal, requested: this.stopRequested });
  }

  private onExit(info: ExitInfo): void {
    if (this.exited) return;
    this.exited = true;
    this.exitInfo = info;
    this.stderr.flush();
    const log = this.options.logger;
    if (info.spawnError) log.error({ command: this.options.command, err: info.spawnError }, 'mcp server could not be started');
    else if (info.requested) log.info({ child_pid: this.proc.pid, code: info.code, signal: info.signal }, 'mcp server stopped');
    else log.warn({ child_pid: this.proc.pid, code: info.code, signal: info.signal }, 'mcp server exited on its own');
    this.proc.stdout.destroy();
    this.proc.stderr.destroy();
    this.proc.stdin.destroy();
    this.wake();
    this.events.exit(info);
  }

  private waitExit(ms: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.exitWaiters.delete(done);
        resolve(this.exited);
      };
      const timer = setTimeout(done, ms);
      this.exitWaiters.add(done);
    });
  }

  private wake(): void {
    if (!this.exited) return;
    for (const waiter of [...this.exitWaiters]) waiter();
  }

  /** For diagnostics and tests. */
  get lastExit(): ExitInfo | undefined {
    return this.exitInfo;
  }
}

/**
 * A child's stderr goes to the gateway log, never to the client: line by line, each line cut to
 * 1 KiB and stripped of control characters, at most `perMinute` lines a minute (the rest are
 * counted). Reading never stops, so a chatty child cannot block on a full stderr pipe.
 */
class StderrLog {
  private partial = '';
  private windowStart = Date.now();
  private logged = 0;
  private dropped = 0;

  constructor(
    private readonly logger: Logger,
    private readonly perMinute: number,
    private readonly onLine?: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop()!.slice(0, STDERR_LINE_BYTES);
    for (const line of lines) this.line(line);
  }

  flush(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    this.reportDropped();
  }

  private line(raw: string): void {
    // eslint-disable-next-line no-control-regex
    const clean = raw.slice(0, STDERR_LINE_BYTES).replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
    if (!clean.trim()) return;
    this.onLine?.(clean);
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      this.reportDropped();
      this.windowStart = now;
      this.logged = 0;
    }
    if (this.logged >= this.perMinute) {
      this.dropped += 1;
      return;
    }
    this.logged += 1;
    this.logger.info({ stderr: clean }, 'mcp server stderr');
  }

  private reportDropped(): void {
    if (this.dropped === 0) return;
    this.logger.warn({ dropped: this.dropped }, 'mcp server stderr lines dropped (mcp.stderr_lines_per_minute)');
    this.dropped = 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
