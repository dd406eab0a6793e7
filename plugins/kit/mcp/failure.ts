/**
 * Why a session or its start failed, in words and fields a client may read (issue 10, item 19c):
 * the exit code or signal, the spawn error's errno, the timeout that expired. Never the command's
 * arguments or environment (they may carry tokens), never the child's output.
 */
import { existsSync } from 'node:fs';
import type { ExitInfo } from './child.js';

export interface Failure {
  /** Completes "the MCP server …". */
  readonly message: string;
  /** JSON-RPC error `data`: `reason` and its facts (exit_code, signal, errno, init_timeout). */
  readonly data: Readonly<Record<string, unknown>>;
}

const ERRNO_MEANING: Record<string, string> = {
  ENOENT: 'command not found',
  EACCES: 'permission denied',
  ENOTDIR: 'a path component is not a directory',
  EMFILE: 'too many open files',
  EAGAIN: 'the system cannot start another process now',
};

/** How a child ended (or never started), for its clients. */
export function exitFailure(info: ExitInfo, cwd: string | undefined): Failure {
  if (info.spawnError) return spawnFailure(info.spawnError, cwd);
  if (info.signal) return { message: `the MCP server was killed by ${info.signal}`, data: { reason: 'exited', exit_code: null, signal: info.signal } };
  return { message: `the MCP server exited with code ${info.code}`, data: { reason: 'exited', exit_code: info.code, signal: null } };
}

/** A spawn that failed: its errno, and what it usually means. */
export function spawnFailure(err: unknown, cwd: string | undefined): Failure {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno !== 'string') return { message: 'the MCP server could not be started', data: { reason: 'spawn_failed' } };
  // Node reports a missing working directory as ENOENT on the command.
  const meaning = errno === 'ENOENT' && cwd !== undefined && !existsSync(cwd) ? 'working directory not found' : ERRNO_MEANING[errno];
  return {
    message: `the MCP server could not be started: ${errno}${meaning ? ` (${meaning})` : ''}`,
    data: { reason: 'spawn_failed', errno },
  };
}

export function initTimeoutFailure(seconds: number): Failure {
  return {
    message: `the MCP server did not answer initialize within init_timeout (${seconds} s)`,
    data: { reason: 'init_timeout', init_timeout: seconds },
  };
}
