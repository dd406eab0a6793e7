/**
 * A real Redis Cluster for tests: three `redis-server --cluster-enabled yes` masters on free ports
 * (each with its bus port, +10000, free too), joined with `redis-cli --cluster create`, keeping
 * nothing on disk but their node files.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './processes.js';

export interface TestRedisCluster {
  /** Seed nodes as "host:port", as `redis_cluster_nodes` takes them. */
  nodes: string[];
  stop(): Promise<void>;
}

/** Three redis-server masters (no replicas) joined into a cluster, keeping nothing on disk but their node files. */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const ports: number[] = [];
  while (ports.length < 3) {
    const port = await clusterPort();
    if (!ports.includes(port)) ports.push(port);
  }
  const servers: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      servers.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      servers.push(
        spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' }),
      );
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const cli = (args: string[]) => execFileSync('redis-cli', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const up = await waitFor(() => ports.every((p) => { try { return cli(['-p', String(p), 'ping']).trim() === 'PONG'; } catch { return false; } }), 15_000, 50);
    if (!up) throw new Error('cluster nodes did not start');
    cli(['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
    const ok = await waitFor(() => ports.every((p) => cli(['-p', String(p), 'cluster', 'info']).includes('cluster_state:ok')), 30_000, 100);
    if (!ok) throw new Error('cluster did not reach state ok');
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A port that is free together with port + 10000 (a cluster node's bus port), below 55536. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if ((await canListen(port)) && (await canListen(port + 10000))) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
