/**
 * A private redis-server per test run (or per test that breaks it), on a free port, keeping
 * nothing on disk. Tests never touch a Redis someone else uses, and can stop it to test faults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { isAlive, waitFor } from './processes.js';

export interface TestRedis {
  port: number;
  url: string;
  readonly pid: number | undefined;
  /** Stops the server (SIGKILL: like a crash or a network cut, no goodbye). */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: it keeps nothing). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** A plain client for assertions; closed by stop(). */
  client(): Redis;
}

export interface StartRedisOptions {
  port?: number;
  /** Keep data across kill/restart (append-only file, fsync always), like a production Redis. */
  persist?: boolean;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  const clients: Redis[] = [];
  const dir = options.persist ? mkdtempSync(join(tmpdir(), 'tollgate-redis-')) : undefined;
  const persistence = dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no'];

  const launch = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--loglevel', 'warning'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    const started = child;
    // The port was only free a moment ago: another test's server may hold it now, and would
    // answer PING just as well. Only our own process id counts; our child exiting (it could not
    // bind) ends the wait at once.
    const ok = await waitFor(async () => {
      if (started.exitCode !== null || started.signalCode !== null) return true;
      try {
        if (probe.status !== 'ready') await probe.connect();
        return /process_id:(\d+)/.exec(await probe.info('server'))?.[1] === String(started.pid);
      } catch {
        probe.disconnect();
        return false;
      }
    }, 10_000, 50);
    probe.disconnect();
    if (!ok || started.exitCode !== null || started.signalCode !== null) throw new Error(`redis-server did not start on port ${port}`);
  };

  const kill = async () => {
    const current = child;
    child = undefined;
    if (current?.pid && isAlive(current.pid)) {
      const exited = new Promise((r) => current.once('exit', r));
      current.kill('SIGKILL');
      await exited;
    }
  };

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      await kill();
      if (options.port !== undefined || attempt === 3) throw err;
      port = await freePort();
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    kill,
    restart: launch,
    async stop() {
      for (const c of clients) c.disconnect();
      await kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    client() {
      const c = new Redis({ port, host: '127.0.0.1' });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
  };
}

let shared: Promise<TestRedis> | undefined;

/** One Redis for the whole run; tests isolate themselves with their own key prefix. */
export function sharedRedis(): Promise<TestRedis> {
  shared ??= startRedis();
  return shared;
}

export async function stopSharedRedis(): Promise<void> {
  if (!shared) return;
  const redis = await shared;
  shared = undefined;
  await redis.stop();
}

export function sharedRedisPid(): Promise<number | undefined> | undefined {
  return shared?.then((r) => r.pid);
}

/**
 * Stores a catalog record straight into Redis, as an older version, a hand edit or a restore
 * leaves one, with the revision bump and the record in one step. As two commands (INCR, then
 * HSET) a gateway polling in between sees the new revision without the record, reloads, and has
 * no reason to look again: the record is never served. The gateway's own writes are one script
 * for the same reason.
 */
export async function storeCatalogRecord(client: Redis, prefix: string, kind: string, id: string, value: unknown): Promise<number> {
  // The record's JSON after its indexes; the script puts the new revision in front.
  const rest = JSON.stringify({ create_time: 1, update_time: 1, value }).slice(1);
  const script = `
    local revision = redis.call('INCR', KEYS[1])
    redis.call('HSET', KEYS[2], ARGV[1], '{"createdIndex":' .. revision .. ',"modifiedIndex":' .. revision .. ',' .. ARGV[2])
    return revision`;
  return (await client.eval(script, 2, `{${prefix}}:revision`, `{${prefix}}:${kind}`, id, rest)) as number;
}
