/**
 * The watchdog that stops a gateway's children when the gateway dies, however it dies (issue 10,
 * item 18). Children run in their own process groups, so nothing the kernel does to a dead
 * gateway reaches them: a SIGKILLed gateway used to leave behind every server that ignores the
 * end of its input.
 *
 * One small `/bin/sh` process per gateway (not per child; about 1 MB), and only while the gateway
 * runs children, connected by a pipe to its stdin. The gateway tells it each child's process group as the child is spawned (`+<pgid>`) and
 * once the group is gone (`-<pgid>`). When the pipe reaches end-of-file — the gateway exited,
 * crashed or was killed — it waits up to `stop_stdin_wait` for the groups to go (their stdin
 * closed with the gateway too), SIGTERMs those left, waits up to `stop_term_wait`, SIGKILLs the
 * rest, and exits: the MCP stdio shutdown sequence, run by a process that outlives the gateway.
 * It ignores SIGINT, SIGHUP and SIGTERM (a Ctrl-C or a supervisor's SIGTERM to the whole group
 * must not stop it before the gateway), and runs in its own process group.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { Logger } from '../../../core/logger.js';

// POSIX sh (dash, bash, busybox). `groups` holds " pgid pgid … "; only positive integers above 1
// are accepted, so no line can make it signal every process (-1) or its own group (0).
const SCRIPT = `
trap '' INT HUP TERM PIPE
groups=' '
while IFS= read -r line; do
  g=\${line#?}
  case $g in ''|*[!0-9]*) continue ;; esac
  [ "$g" -gt 1 ] || continue
  case $line in
    +*) groups="$groups$g " ;;
    -*) case $groups in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac ;;
  esac
done
alive() { for g in $groups; do kill -0 -"$g" 2>/dev/null && return 0; done; return 1; }
wait_gone() {
  sleep "$1" & clock=$!
  while alive && kill -0 "$clock" 2>/dev/null; do sleep 0.1; done
  kill -s KILL "$clock" 2>/dev/null
}
alive || exit 0
wait_gone "$1"
alive || exit 0
for g in $groups; do kill -s TERM -- -"$g" 2>/dev/null; done
wait_gone "$2"
for g in $groups; do kill -s KILL -- -"$g" 2>/dev/null; done
exit 0
`;

/** A reaper that dies this soon after its start, this many times in a row, is not restarted again. */
const QUICK_DEATH_MS = 1000;
const QUICK_DEATHS_TOLERATED = 3;

export interface ReaperOptions {
  /** Milliseconds, as the gateway's own stop sequence. */
  stopStdinWait: number;
  stopTermWait: number;
  /** A reaper with nothing to watch goes after this long, so that sessions one after another reuse it (`reaper_linger`). */
  linger: number;
  logger: Logger;
}

type ReaperProcess = ChildProcessByStdio<Writable, null, null>;

/**
 * The gateway's side of the reaper. The process runs only while there are children to watch: a
 * gateway without MCP sessions has none, and one whose last child is gone ends it after
 * `linger` milliseconds.
 */
export class Reaper {
  private proc?: ReaperProcess;
  private readonly groups = new Set<number>();
  private readonly exits = new Set<Promise<void>>();
  private idleTimer?: NodeJS.Timeout;
  private closing = false;
  private lastSpawn = 0;
  private quickDeaths = 0;
  private gaveUp = false;

  constructor(private readonly options: ReaperOptions) {}

  /** A child was spawned as the leader of process group `pgid`. */
  track(pgid: number): void {
    this.groups.add(pgid);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (!this.proc) this.start();
    else this.send(`+${pgid}`);
  }

  /** The group is gone (the gateway stopped it). */
  untrack(pgid: number): void {
    if (!this.groups.delete(pgid)) return;
    this.send(`-${pgid}`);
    if (this.groups.size === 0 && !this.idleTimer) {
      this.idleTimer = setTimeout(() => this.retire(), this.options.linger);
      this.idleTimer.unref();
    }
  }

  /** The gateway stops: a reaper told of no group left exits at once. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.idleTimer);
    this.retire();
    await Promise.all([...this.exits]);
  }

  /** Ends the reaper's input; with no group left it simply exits. */
  private retire(): void {
    this.idleTimer = undefined;
    const proc = this.proc;
    this.proc = undefined;
    proc?.stdin.end();
  }

  private start(): void {
    if (this.closing || this.gaveUp) return;
    this.lastSpawn = Date.now();
    // Seconds for sleep(1), at least a tenth. The waits are measured by a background sleep, not by
    // counting the polling loop's rounds: each round forks, and on a loaded machine 50 rounds of
    // 'sleep 0.1' took seconds longer than the 5 s they stood for.
    const seconds = (ms: number) => (Math.max(100, Math.ceil(ms / 100) * 100) / 1000).toFixed(1);
    let proc: ReaperProcess;
    try {
      proc = spawn('/bin/sh', ['-c', SCRIPT, 'tollgate-mcp-reaper', seconds(this.options.stopStdinWait), seconds(this.options.stopTermWait)], {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
    } catch (err) {
      this.giveUp(err);
      return;
    }
    this.proc = proc;
    // The reaper must never keep the gateway alive, nor its pipe the event loop.
    proc.unref();
    (proc.stdin as Writable & { unref?: () => void }).unref?.();
    // EPIPE once the reaper is gone; its exit is handled below.
    proc.stdin.on('error', () => undefined);
    const exited = new Promise<void>((resolve) => {
      // Every 'error', not the first only: one without a listener ends the gateway.
      proc.on('error', (err) => {
        if (this.proc === proc) this.proc = undefined;
        this.giveUp(err);
        resolve();
      });
      proc.once('exit', () => {
        resolve();
        if (this.proc !== proc) return;
        // Killed behind our back while it had groups to watch: start another, if it is not being killed in a loop.
        this.proc = undefined;
        this.quickDeaths = Date.now() - this.lastSpawn < QUICK_DEATH_MS ? this.quickDeaths + 1 : 0;
        if (this.quickDeaths >= QUICK_DEATHS_TOLERATED) return this.giveUp(new Error('the reaper keeps exiting'));
        this.options.logger.warn('mcp reaper exited; starting another');
        this.start();
      });
    });
    this.exits.add(exited);
    void exited.then(() => this.exits.delete(exited));
    for (const pgid of this.groups) this.send(`+${pgid}`);
  }

  private giveUp(err: unknown): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    this.options.logger.error({ err }, 'mcp reaper not running; children may outlive a gateway that is killed (they are stopped at its next start)');
  }

  private send(line: string): void {
    const stdin = this.proc?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(`${line}\n`);
  }
}
