/**
 * `tollgate start` with `gateway.workers` above 1: a primary and N workers (node:cluster).
 *
 * - Every worker is a whole gateway (startGateway): the data plane with every plugin, its own
 *   catalog follower, its own Redis connections. node:cluster hands each new client connection to
 *   the next worker (round robin), so a connection and its keep-alive requests stay on one worker.
 * - Worker 1 also serves the Admin API and writes the embedded catalog; the others follow its
 *   files (core/catalog/embedded-follower.ts). The Admin API needs the whole plugin registry (its
 *   schemas, custom plugins, plugin endpoints), which only a worker has; keeping it out of the
 *   primary keeps the primary small, and the process whose death ends every worker simple.
 *   With the Redis catalog every worker follows Redis directly, as separate instances do.
 * - The primary serves the status listener (ready while at least one worker is) and the metrics
 *   exporter (every worker's registry, summed), answers signals (bin/signals.ts) for all, and
 *   replaces a worker that dies (core/workers/supervisor.ts).
 */
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, Registry } from 'prom-client';
import type { NodeMetrics } from '../admin/server.js';
import { formatListen, parseListen, type GatewayConfig, type ListenAddress } from '../core/config.js';
import { fixedPort } from '../core/listen.js';
import { createLogger } from '../core/logger.js';
import { aggregateMetrics, aggregateMetricsJson } from '../core/metrics.js';
import { WorkerMetricsMemory } from '../core/workers/metrics-memory.js';
import { MetricsServer } from '../core/metrics-server.js';
import { StatusServer, type StatusReply } from '../core/status.js';
import { WORKER_ID_ENV } from '../core/workers/messages.js';
import { Supervisor, type WorkerAnswer } from '../core/workers/supervisor.js';
import { WorkerLink } from '../core/workers/worker-link.js';
import { resolveAdminKeys } from './admin-key.js';
import { seedDemoCatalog } from './demo.js';
import { startGateway, type RunningGateway } from './gateway.js';
import { handleSignals, reopenLogs } from './signals.js';

/** How long the primary waits for a worker's answer to a status probe or a scrape. */
const STATUS_ANSWER_MS = 1000;
const METRICS_ANSWER_MS = 2000;

export interface RunningCluster {
  config: GatewayConfig;
  addresses: { dataPlane: ListenAddress; admin?: ListenAddress; status?: ListenAddress; metrics?: ListenAddress };
  generatedAdminKey?: string;
  adminKeyFile?: string;
  workers: Supervisor;
}

/** Starts the workers and the primary's listeners; resolves once every worker is ready. */
export async function startPrimary(config: GatewayConfig, onStopped: () => void): Promise<RunningCluster> {
  const logger = createLogger(config.log.level);
  // Once, here: N workers generating a key each would race for the file.
  const adminKeys = resolveAdminKeys(config);
  const dataPlane = await fixedPort(parseListen(config.gateway.listen));
  const admin = config.admin.enabled ? await fixedPort(parseListen(config.admin.listen)) : undefined;
  const mcp = config.plugin_attr['mcp-bridge'] as { stop_stdin_wait?: number; stop_term_wait?: number } | undefined;
  const workers = new Supervisor({
    count: config.gateway.workers,
    logger,
    env: {
      TOLLGATE_LISTEN: formatListen(dataPlane),
      ...(admin ? { TOLLGATE_ADMIN_LISTEN: formatListen(admin) } : {}),
      // The workers relay MCP sessions' requests to each other: a secret for this node's lifetime
      // unless one is configured (several instances share theirs).
      TOLLGATE_RELAY_SECRET: config.relay.secret || randomBytes(32).toString('base64url'),
    },
    // What one gateway's stop may take (requests in flight, then MCP children), and a margin.
    drainMs: (config.timeouts.shutdown + (mcp?.stop_stdin_wait ?? 0) + (mcp?.stop_term_wait ?? 0)) * 1000 + 5000,
  });

  let draining = false;
  const closers: Array<() => Promise<void>> = [];
  handleSignals({
    logger: () => logger,
    stop: (signal) => {
      logger.info({ signal }, 'shutting down: draining every worker');
      draining = true;
      workers
        .stop()
        .then(() => Promise.all(closers.map((close) => close())))
        .then(onStopped, onStopped);
    },
    abort: () => workers.kill(),
    reopened: (signal) => workers.reopenLogs(signal),
  });

  let statusAddress: ListenAddress | undefined;
  if (config.status.enabled) {
    const status = new StatusServer((path) => clusterStatus(path, workers, draining));
    statusAddress = await status.listen(parseListen(config.status.listen));
    closers.push(() => status.close());
  }
  const own = primaryMetrics(workers);
  const memory = new WorkerMetricsMemory();
  const everyWorkersMetrics = async () => {
    const answers = await workers.ask('metrics', METRICS_ANSWER_MS);
    const snapshots = await memory.snapshots(answers);
    const answered = answers.filter((a) => a.body !== undefined);
    return { snapshots: [...snapshots, await own.getMetricsAsJSON()], summed: answered.map(({ id, pid }) => ({ id, pid })) };
  };
  // The admin worker's dashboard shows the node, not the worker that happens to serve it. It is
  // told which workers answered this time: a late one's counts are its last answer's, so the
  // overview takes no rate across a change of that set.
  workers.answer('node-metrics', async () => {
    const { snapshots, summed } = await everyWorkersMetrics();
    return { metrics: await aggregateMetricsJson(snapshots), workers: summed };
  });
  let metricsAddress: ListenAddress | undefined;
  if (config.metrics.enabled) {
    const exporter = new MetricsServer(
      config.metrics.path,
      async () => aggregateMetrics((await everyWorkersMetrics()).snapshots),
      (err) => logger.error({ err }, 'metrics collection failed'),
    );
    try {
      metricsAddress = await exporter.listen(parseListen(config.metrics.listen));
      closers.push(() => exporter.close());
    } catch (err) {
      logger.error({ err, listen: config.metrics.listen }, 'metrics exporter not started');
    }
  }

  try {
    await workers.start();
  } catch (err) {
    await Promise.all(closers.map((close) => close()));
    throw err;
  }
  return {
    config,
    addresses: { dataPlane, admin, status: statusAddress, metrics: metricsAddress },
    generatedAdminKey: adminKeys.generated,
    adminKeyFile: adminKeys.file,
    workers,
  };
}

/**
 * The node's status from its workers' answers: live while the primary answers; ready while at
 * least one worker is ready (the others are starting or being replaced), 503 while draining.
 */
async function clusterStatus(path: string, workers: Supervisor, draining: boolean): Promise<StatusReply | undefined> {
  if (path !== '/status' && path !== '/status/ready') return undefined;
  if (path === '/status/ready' && draining) return { status: 503, body: { status: 'draining', workers: workers.workers() } };
  const answers = await workers.ask(path === '/status' ? 'status' : 'ready', STATUS_ANSWER_MS);
  const replyOf = (answer: WorkerAnswer | undefined) => answer?.body as StatusReply | undefined;
  const list = workers.workers().map((w) => {
    const reply = replyOf(answers.find((a) => a.id === w.id));
    return { ...w, status: reply ? (reply.body.status as string) : w.ready ? 'no answer' : 'starting' };
  });
  // The admin worker's view first: it writes the catalog the others follow.
  const preferred = replyOf(answers.find((a) => a.id === 1 && a.body)) ?? replyOf(answers.find((a) => a.body));
  if (path === '/status') return { status: 200, body: { status: 'ok', workers: list, invalid_entries: preferred?.body.invalid_entries ?? [] } };
  const serving = answers.map(replyOf).filter((reply): reply is StatusReply => reply?.status === 200);
  if (serving.length === 0) return { status: 503, body: { ...preferred?.body, status: 'not ready', workers: list } };
  const status = serving.every((reply) => reply.body.status === 'ok') ? 'ok' : 'degraded';
  return { status: 200, body: { ...(preferred?.status === 200 ? preferred : serving[0]).body, status, workers: list } };
}

/** What only the primary knows: its workers. */
function primaryMetrics(workers: Supervisor): Registry {
  const registry = new Registry();
  let counted = 0;
  const restarts = new Counter({
    name: 'tollgate_worker_restarts_total',
    help: 'Workers that died and were replaced',
    registers: [registry],
    collect() {
      const total = workers.workers().reduce((sum, w) => sum + w.restarts, 0);
      this.inc(total - counted);
      counted = total;
    },
  });
  void restarts;
  new Gauge({
    name: 'tollgate_workers',
    help: 'Worker processes, by state (ready, starting)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const list = workers.workers();
      this.set({ state: 'ready' }, list.filter((w) => w.ready).length);
      this.set({ state: 'starting' }, list.filter((w) => !w.ready).length);
    },
  });
  return registry;
}

/** One worker: a whole gateway that answers its primary. Resolves once it is ready. */
export async function startWorker(file: string | undefined, demo: boolean): Promise<RunningGateway> {
  const id = Number(process.env[WORKER_ID_ENV]);
  const link = new WorkerLink(id);
  let gateway: RunningGateway | undefined;
  const stop = () => {
    if (!gateway) process.exit(1);
    gateway.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  handleSignals({ logger: () => gateway?.logger, stop });
  link.onDrain(stop);
  link.onReopenLogs((signal) => reopenLogs(signal, gateway?.logger));
  gateway = await startGateway({
    file,
    worker: { id, admin: id === 1, peers: link, nodeMetrics: () => link.askPrimary('node-metrics', METRICS_ANSWER_MS * 2) as Promise<NodeMetrics> },
    seed: demo ? seedDemoCatalog : undefined,
  });
  const running = gateway;
  link.answer('status', () => running.statusReply('/status'));
  link.answer('ready', () => running.statusReply('/status/ready'));
  link.answer('metrics', () => running.metrics.snapshot(running.config.metrics.process_metrics));
  link.ready();
  return running;
}
