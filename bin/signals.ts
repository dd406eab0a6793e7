/**
 * What each signal a supervisor, a terminal or an operator may send does to `tollgate start`
 * (documented in docs/configuration.md, "Signals"). No signal drops a request in flight:
 *
 * - SIGTERM, SIGINT, SIGQUIT: stop accepting, let requests in flight finish (up to
 *   `timeouts.shutdown`), exit 0; a second one exits at once. SIGQUIT is included because some
 *   images stop with it (nginx's graceful stop); Node's default for it would end the process at once.
 * - SIGHUP, SIGUSR1: reopen the log files (access log, file-logger), for logrotate — nginx's USR1.
 *   Nothing else needs reloading: the catalog is live, and config.yaml changes need a restart.
 *   Node's default for SIGHUP ends the process (a closed terminal, `systemctl reload`), and for
 *   SIGUSR1 opens the inspector on 127.0.0.1:9229, a debugger any local user could attach to.
 * - SIGUSR2: ignored, with a log line (nginx's binary upgrade, nodemon's restart: neither applies;
 *   Node's default would end the process).
 * - SIGPIPE: Node ignores it already; a write to a closed pipe fails that stream with EPIPE.
 *
 * With several workers (bin/cluster.ts) the primary handles these and passes them on: a stop
 * drains every worker, SIGHUP/SIGUSR1 make every worker reopen its files. A worker keeps the same
 * handlers, for signals sent to it alone or to the whole process group (a Ctrl-C in a terminal,
 * systemd's control-group stop): its primary's drain order and a signal then lead to one drain.
 */
import type { Logger } from '../core/logger.js';
import { reopenLogFiles } from '../core/line-writer.js';

export interface SignalTargets {
  /** The gateway's logger once it runs (signals may arrive during start-up). */
  logger(): Logger | undefined;
  /** Graceful stop. */
  stop(signal: NodeJS.Signals): void;
  /** A second stop signal: end now (default: exit 1). */
  abort?(): void;
  /** After this process reopened its log files (a primary tells its workers to). */
  reopened?(signal: NodeJS.Signals): void;
}

export function handleSignals(targets: SignalTargets): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      targets.abort?.();
      process.exit(1);
    }
    stopping = true;
    targets.stop(signal);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, () => stop(signal));

  const reopen = (signal: NodeJS.Signals) => {
    reopenLogs(signal, targets.logger());
    targets.reopened?.(signal);
  };
  process.on('SIGHUP', () => reopen('SIGHUP'));
  process.on('SIGUSR1', () => reopen('SIGUSR1'));
  process.on('SIGUSR2', () => targets.logger()?.warn({ signal: 'SIGUSR2' }, 'signal ignored; SIGTERM stops the gateway after draining, SIGHUP reopens log files'));
}

/** Reopens this process's log files (access log, file-logger) and says so in the log. */
export function reopenLogs(signal: NodeJS.Signals, logger: Logger | undefined): void {
  const { reopened, failed } = reopenLogFiles();
  if (failed.length > 0) logger?.error({ signal, reopened, failed }, 'log files could not all be reopened');
  else logger?.info({ signal, reopened }, 'log files reopened');
}
