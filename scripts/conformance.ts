/**
 * `npm run conformance`: the official MCP conformance suite's server scenarios, run through a real
 * gateway against the stdio fixture server of test/fixtures.
 *
 * The suite (@modelcontextprotocol/conformance 0.1.16) needs Node ≥ 22 while the project runs on
 * Node 20, so both come from the npm registry into `.conformance/` (git-ignored, reused between
 * runs): the `node` package ships a Node 22 binary. The gateway is `tollgate start` as a separate
 * process on 127.0.0.1 with a temporary data dir and default settings, and the route sets only
 * what a bridge must (base_uri, command, args); the suite gets a localhost URL (its
 * DNS-rebinding scenario insists on one).
 *
 * Options: --suite active|all|pending (default active), --scenario NAME, --keep (keep results).
 * Exit status: the suite's (0 when every scenario passed).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnGateway, type GatewayProcess } from '../test/helpers/gateway.js';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, '.conformance');
const SUITE_VERSION = '0.1.16';
const NODE_VERSION = '22';
const ADMIN_KEY = 'conformance-admin-key-0123456789';
const FIXTURE = join(ROOT, 'test/fixtures/mcp-servers/conformance-server.mjs');

function ensureTools(): { node: string; suite: string } {
  const node = join(CACHE, 'node_modules/.bin/node');
  const suite = join(CACHE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
  const installed = (pkg: string) => {
    try {
      return (JSON.parse(readFileSync(join(CACHE, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return undefined;
    }
  };
  const nodeOk = installed('node')?.startsWith(`${NODE_VERSION}.`) && existsSync(node);
  if (!nodeOk || installed('@modelcontextprotocol/conformance') !== SUITE_VERSION) {
    process.stdout.write(`installing Node ${NODE_VERSION} and @modelcontextprotocol/conformance@${SUITE_VERSION} into ${CACHE}\n`);
    mkdirSync(CACHE, { recursive: true });
    if (!existsSync(join(CACHE, 'package.json'))) {
      writeFileSync(join(CACHE, 'package.json'), `${JSON.stringify({ name: 'tollgate-conformance-cache', private: true, version: '0.0.0' }, null, 2)}\n`);
    }
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `node@${NODE_VERSION}`, `@modelcontextprotocol/conformance@${SUITE_VERSION}`], {
      cwd: CACHE,
      stdio: 'inherit',
    });
  }
  const version = execFileSync(node, ['--version']).toString().trim();
  process.stdout.write(`conformance suite ${SUITE_VERSION} on Node ${version}\n`);
  return { node, suite };
}

function parseArgs(argv: string[]): { suiteArgs: string[]; keep: boolean } {
  const suiteArgs: string[] = [];
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') keep = true;
    else if (argv[i] === '--suite' || argv[i] === '--scenario') suiteArgs.push(argv[i], argv[++i]);
    else throw new Error(`unknown option ${argv[i]} (use --suite, --scenario, --keep)`);
  }
  return { suiteArgs, keep };
}

async function main(): Promise<number> {
  const { suiteArgs, keep } = parseArgs(process.argv.slice(2));
  const { node, suite } = ensureTools();
  const work = mkdtempSync(join(tmpdir(), 'tollgate-conformance-'));
  // Default settings, as a user gets them: the suite opens 30 sessions one after the other and
  // ends none (no DELETE), which a default route must survive (max_sessions 16; issue 10, item 15).
  const configFile = join(work, 'config.yaml');
  writeFileSync(configFile, `gateway:\n  data_dir: ${JSON.stringify(join(work, 'data'))}\n`);
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await spawnGateway({ TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_LOG_LEVEL: 'warn' }, ['--config', configFile]);
    const route = await gateway.admin('PUT', '/routes/conformance', {
      uri: '/conformance/*',
      plugins: {
        'mcp-bridge': { base_uri: '/conformance', command: 'node', args: [FIXTURE] },
      },
    });
    if (route.status >= 300) throw new Error(`route not created: ${route.status} ${route.text}`);
    const port = new URL(gateway.url).port;
    const url = `http://localhost:${port}/conformance/mcp`;
    const output = join(keep ? join(CACHE, 'results') : work, new Date().toISOString().replace(/[:.]/g, '-'));
    process.stdout.write(`gateway ${gateway.url}, suite against ${url}\n`);
    const code = await run(node, [suite, 'server', '--url', url, '-o', output, ...suiteArgs]);
    if (keep) process.stdout.write(`results kept in ${output}\n`);
    return code;
  } finally {
    if (gateway) {
      const exit = await gateway.stop();
      if (exit !== 0) process.stderr.write(`gateway exited with ${exit}:\n${gateway.output()}\n`);
    }
    rmSync(work, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', cwd: ROOT });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`conformance: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
