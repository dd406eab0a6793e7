/**
 * A gateway started the way `npm start` starts it (`tollgate start --demo`): conf/config.yaml of
 * the checkout, the demo echo upstream, the demo catalog seeded into an empty data directory and a
 * generated admin key in `data/admin.key` — but on free ports, because tests must not assume that
 * 9080, 9180 or 8081 are free. The walkthroughs then run with the page's addresses replaced.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { Catalog } from '../../core/catalog/types.js';
import { DEMO_UPSTREAM, seedDemoCatalog, startDemoUpstream } from '../../bin/demo.js';
import { startGateway, type RunningGateway } from '../../bin/gateway.js';
import { loadConfig, parseListen } from '../../core/config.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const CONFIG_FILE = join(REPO_ROOT, 'conf/config.yaml');

export interface DemoGateway {
  gateway: RunningGateway;
  /** The working directory a reader would be in: its `data/` is the gateway's data directory. */
  cwd: string;
  dataPlane: string;
  admin: string;
  upstream: string;
  logs: string[];
  /** The page's default addresses → this gateway's, for RunOptions.substitutions. */
  substitutions: Array<[string, string]>;
  adminKey(): string;
  stop(): Promise<void>;
}

/** `extraConfig` is merged over conf/config.yaml, as a reader's edits of that file would be. */
export async function startDemoGateway(extraConfig: Record<string, unknown> = {}, options: { cwd?: string } = {}): Promise<DemoGateway> {
  // Inside the checkout, so that code a page has the reader write resolves `tollgate` as theirs would.
  mkdirSync(join(REPO_ROOT, '.test-tmp'), { recursive: true });
  const cwd = options.cwd ?? mkdtempSync(join(REPO_ROOT, '.test-tmp', 'docs-'));
  mkdirSync(cwd, { recursive: true });
  const upstreamServer: Server = await startDemoUpstream(0, DEMO_UPSTREAM.host);
  const upstream = `${DEMO_UPSTREAM.host}:${(upstreamServer.address() as AddressInfo).port}`;
  const demoAddress = `${DEMO_UPSTREAM.host}:${DEMO_UPSTREAM.port}`;
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  let gateway: RunningGateway;
  try {
    gateway = await startGateway({
      file: CONFIG_FILE,
      // The tester's own TOLLGATE_* variables must not change what the page promises.
      env: {},
      overrides: {
        ...extraConfig,
        gateway: { listen: '127.0.0.1:0', data_dir: join(cwd, 'data') },
        admin: { listen: '127.0.0.1:0' },
        status: { listen: '127.0.0.1:0' },
        metrics: { listen: '127.0.0.1:0' },
        log: { level: 'info' },
      },
      logDestination: sink,
      // Access lines would otherwise go to the test runner's stdout; the pages do not read them.
      accessLogDestination: new Writable({ write: (_chunk, _enc, done) => done() }),
      // seedDemoCatalog points the demo upstream at 127.0.0.1:8081; point it at ours instead.
      seed: (catalog) =>
        seedDemoCatalog({
          put: (kind, id, value) => catalog.put(kind, id, JSON.parse(JSON.stringify(value).replaceAll(demoAddress, upstream))),
        } as Catalog),
    });
  } catch (err) {
    upstreamServer.close();
    throw err;
  }
  const url = (a: { host: string; port: number }) => `http://${a.host}:${a.port}`;
  const dataPlane = url(gateway.addresses.dataPlane);
  const admin = url(gateway.addresses.admin!);
  const defaults = loadConfig({ file: CONFIG_FILE, env: {} });
  const defaultUrl = (listen: string) => {
    const { host, port } = parseListen(listen);
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  };
  return {
    gateway,
    cwd,
    dataPlane,
    admin,
    upstream,
    logs,
    substitutions: [
      [defaultUrl(defaults.gateway.listen), dataPlane],
      [defaultUrl(defaults.admin.listen), admin],
      [defaultUrl(defaults.status.listen), url(gateway.addresses.status!)],
      [defaultUrl(defaults.metrics.listen), url(gateway.addresses.metrics!)],
      [demoAddress, upstream],
    ],
    adminKey: () => readFileSync(join(cwd, 'data', 'admin.key'), 'utf8').trim(),
    async stop() {
      await gateway.stop();
      upstreamServer.closeAllConnections();
      await new Promise((r) => upstreamServer.close(r));
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
