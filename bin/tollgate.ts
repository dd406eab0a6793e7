#!/usr/bin/env -S node --no-allocation-site-pretenuring
/**
 * The command line: `tollgate start [--config FILE] [--demo]`.
 */
// First, before the modules below create their allocation sites (see the file).
import './v8-flags.js';
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, formatListen, loadConfig, type GatewayConfig, type ListenAddress } from '../core/config.js';
import { BUILTIN_PLUGINS } from '../plugins/index.js';
import { startPrimary, startWorker } from './cluster.js';
import { PluginLoadError } from '../core/registry.js';
import { startDemoUpstream, seedDemoCatalog } from './demo.js';
import { startGateway, type RunningGateway } from './gateway.js';
import { scaffoldPlugin } from './scaffold.js';
import { handleSignals } from './signals.js';

const USAGE = `usage: tollgate start [--config FILE] [--demo]
       tollgate plugin new NAME [--dir DIR] [--priority N]

  start           run the gateway
    --config FILE   configuration file (default: conf/config.yaml of the installation)
    --demo          also start a demo upstream on 127.0.0.1:8081 and seed an empty catalog with demo routes
  plugin new      write a working custom plugin and its test to DIR/NAME (default DIR: ./custom-plugins)
    --priority N    the plugin's priority (default 10; custom plugins usually take 1-99)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'plugin') return pluginCommand(rest);
  if (command !== 'start') {
    process.stderr.write(USAGE);
    return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
  }
  let configFile: string | undefined;
  let demo = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--config') configFile = rest[++i];
    else if (rest[i] === '--demo') demo = true;
    else {
      process.stderr.write(`unknown option ${rest[i]}\n${USAGE}`);
      return 2;
    }
  }
  configFile ??= process.env.TOLLGATE_CONFIG ?? defaultConfigFile();
  if (cluster.isWorker) return workerMain(configFile, demo);
  let config: GatewayConfig;
  try {
    // The built-ins' attributes (the `mcp:` section…) are part of a valid config file.
    config = loadConfig({ file: configFile, plugins: BUILTIN_PLUGINS });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tollgate: ${err.message}\n`);
    return 1;
  }
  if (config.gateway.workers > 1) return primaryMain(config, configFile, demo);

  let demoUpstream: Awaited<ReturnType<typeof startDemoUpstream>> | undefined;
  let gateway: RunningGateway | undefined;
  // Before start-up, so that a signal during it has its meaning too (bin/signals.ts).
  handleSignals({
    logger: () => gateway?.logger,
    stop: (signal) => {
      if (!gateway) process.exit(1);
      gateway.logger.info({ signal }, 'shutting down');
      demoUpstream?.close();
      demoUpstream?.closeAllConnections();
      gateway.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    },
  });
  try {
    if (demo) {
      demoUpstream = await startDemoUpstream().catch((err: Error) => {
        process.stderr.write(`demo upstream not started (127.0.0.1:8081: ${err.message}); continuing without it\n`);
        return undefined;
      });
    }
    gateway = await startGateway({ file: configFile, seed: demo ? seedDemoCatalog : undefined });
  } catch (err) {
    demoUpstream?.close();
    if (err instanceof ConfigError || err instanceof PluginLoadError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  printBanner(gateway, configFile, demo && demoUpstream !== undefined);
  return -1;
}

/** The primary of several workers (bin/cluster.ts); the demo upstream lives here, once. */
async function primaryMain(config: GatewayConfig, configFile: string | undefined, demo: boolean): Promise<number> {
  const demoUpstream = demo
    ? await startDemoUpstream().catch((err: Error) => {
        process.stderr.write(`demo upstream not started (127.0.0.1:8081: ${err.message}); continuing without it\n`);
        return undefined;
      })
    : undefined;
  try {
    const running = await startPrimary(config, () => {
      demoUpstream?.close();
      demoUpstream?.closeAllConnections();
      process.exit(0);
    });
    const pids = running.workers.workers().map((w) => w.pid).join(', ');
    printBanner({ ...running, workers: `${config.gateway.workers} (pids ${pids}); admin api in worker 1` }, configFile, demo && demoUpstream !== undefined);
    return -1;
  } catch (err) {
    demoUpstream?.close();
    process.stderr.write(`tollgate: ${(err as Error).message}\n`);
    return 1;
  }
}

async function workerMain(configFile: string | undefined, demo: boolean): Promise<number> {
  try {
    await startWorker(configFile, demo);
    return -1;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PluginLoadError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function pluginCommand(args: string[]): number {
  const [sub, name, ...rest] = args;
  if (sub !== 'new' || !name) {
    process.stderr.write(USAGE);
    return 2;
  }
  let dir = './custom-plugins';
  let priority = 10;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--dir') dir = rest[++i];
    else if (rest[i] === '--priority') priority = Number(rest[++i]);
    else {
      process.stderr.write(`unknown option ${rest[i]}\n${USAGE}`);
      return 2;
    }
  }
  if (!Number.isInteger(priority)) {
    process.stderr.write('--priority must be an integer\n');
    return 2;
  }
  try {
    const files = scaffoldPlugin({ name, dir, priority });
    process.stdout.write(
      `created\n${files.map((f) => `  ${f}`).join('\n')}\n\nnext:\n` +
        `  1. add ${JSON.stringify(dir)} to plugin_dirs in conf/config.yaml (once)\n` +
        `  2. curl -X PUT http://127.0.0.1:9180/apisix/admin/plugins/reload -H "X-API-KEY: $KEY"\n` +
        `  3. attach it: "plugins": {"${name}": {}} on a route\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`tollgate: ${(err as Error).message}\n`);
    return 1;
  }
}

function defaultConfigFile(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, '../conf/config.yaml'), resolve(here, '../../conf/config.yaml')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

interface BannerFacts {
  config: GatewayConfig;
  addresses: { dataPlane: ListenAddress; admin?: ListenAddress; status?: ListenAddress; metrics?: ListenAddress };
  generatedAdminKey?: string;
  adminKeyFile?: string;
  workers?: string;
}

function printBanner(gateway: BannerFacts, configFile: string | undefined, demo: boolean): void {
  const { addresses, config } = gateway;
  const url = (a: ListenAddress) => `http://${formatListen(a)}`;
  const lines = [
    'Tollgate is running',
    `  data plane   ${url(addresses.dataPlane)}`,
    addresses.admin ? `  admin api    ${url(addresses.admin)}/apisix/admin` : '  admin api    disabled',
    addresses.admin && config.admin.ui ? `  dashboard    ${url(addresses.admin)}/ui/` : undefined,
    addresses.status ? `  status       ${url(addresses.status)}/status/ready` : undefined,
    addresses.metrics ? `  metrics      ${url(addresses.metrics)}${config.metrics.path}` : undefined,
    `  catalog      ${config.catalog.backend}`,
    gateway.workers ? `  workers      ${gateway.workers}` : undefined,
    `  config       ${configFile ?? '(defaults)'}`,
    demo ? '  demo         upstream on http://127.0.0.1:8081, try: curl http://127.0.0.1:' + addresses.dataPlane.port + '/demo/get' : undefined,
    gateway.generatedAdminKey
      ? `  admin key    ${gateway.generatedAdminKey}\n               generated now and stored in ${gateway.adminKeyFile}; it will not be printed again`
      : gateway.adminKeyFile
        ? `  admin key    stored in ${gateway.adminKeyFile}`
        : '  admin key    from configuration',
  ];
  process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    process.stderr.write(`tollgate: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
