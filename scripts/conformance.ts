/**
 * `npm run conformance`: the official MCP conformance suite's server scenarios, run through a real
 * gateway against the stdio fixture server of test/fixtures, once per specification revision the
 * gateway serves on `{base_uri}/mcp`: 2025-11-25 (stateful sessions, `initialize`) and 2026-07-28
 * (stateless requests, which the gateway's modern front translates for the 2025-era fixture).
 *
 * Each revision runs the suite's frozen requirement set (`--requirements REV`): what conforming
 * to that revision requires, run at that revision's wire, plus the scenarios it runs without
 * scoring (extensions, pending ones). The failures we know of are listed, each with its reason, in
 * scripts/conformance-expected/REV.yaml (the suite's `--expected-failures` baseline): one that
 * is not listed fails the run, and so does a listed one that passes (the list must shrink).
 *
 * The suite (@modelcontextprotocol/conformance 0.2.0-alpha.12, the newest release, the first
 * line with the 2026-07-28 scenarios) needs Node ≥ 22 while the project runs on Node 20, so both
 * come from the npm registry into `.conformance/` (git-ignored, reused between runs): the `node`
 * package ships a Node 22 binary. The gateway is `tollgate start` as a separate process on
 * 127.0.0.1 with a temporary data dir and default settings, and the route sets only what a bridge
 * must (base_uri, command, args); the suite gets a localhost URL (its DNS-rebinding scenario
 * insists on one).
 *
 * Options: --revision 2025-11-25|2026-07-28 (default: both), --scenario NAME (that scenario at
 * each revision's wire, no baseline), --keep (keep results).
 * Prints `conformance: N passed, N failed` (one per revision) last; exit status 0 when every
 * revision passed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnGateway, type GatewayProcess } from '../test/helpers/gateway.js';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, '.conformance');
const SUITE_VERSION = '0.2.0-alpha.12';
const REVISIONS = ['2025-11-25', '2026-07-28'];
const EXPECTED = join(ROOT, 'scripts/conformance-expected');
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

function parseArgs(argv: string[]): { revisions: string[]; scenario?: string; keep: boolean } {
  let revisions = REVISIONS;
  let scenario: string | undefined;
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') keep = true;
    else if (argv[i] === '--scenario') scenario = argv[++i];
    else if (argv[i] === '--revision') {
      const revision = argv[++i];
      if (!REVISIONS.includes(revision)) throw new Error(`--revision must be one of ${REVISIONS.join(', ')}`);
      revisions = [revision];
    } else throw new Error(`unknown option ${argv[i]} (use --revision, --scenario, --keep)`);
  }
  return { revisions, scenario, keep };
}

async function main(): Promise<number> {
  const { revisions, scenario, keep } = parseArgs(process.argv.slice(2));
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
    const failed: string[] = [];
    for (const revision of revisions) {
      process.stdout.write(`\n=== MCP ${revision} ===\n`);
      const selection = scenario
        ? ['--spec-version', revision, '--scenario', scenario]
        : ['--requirements', revision, '--expected-failures', join(EXPECTED, `${revision}.yaml`)];
      const code = await run(node, [suite, 'server', '--url', url, '-o', join(output, revision), ...selection]);
      process.stdout.write(`conformance ${revision}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`}\n`);
      if (code !== 0) failed.push(revision);
    }
    if (keep) process.stdout.write(`results kept in ${output}\n`);
    process.stdout.write(`conformance: ${revisions.length - failed.length} passed, ${failed.length} failed\n`);
    return failed.length === 0 ? 0 : 1;
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
