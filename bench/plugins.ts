/**
 * `npm run bench -- plugins`: what the traffic-control plugins cost, in one run against one
 * gateway process: a route with no plugins versus key-auth + limit-count (local), key-auth +
 * limit-count (redis), jwt-auth and api-breaker (and, for reference, limit-req and limit-conn),
 * each as requests/s and p99 at saturation, with its throughput as a ratio of the plain route's
 * measured in the same round, and the gateway's CPU time per request (from /proc), which other
 * load on the machine disturbs less than throughput does.
 * Goal (issue 4): key-auth + limit-count (local) keeps at least 85% of the plain route's rps.
 *
 * OAuth (issue 14): openid-connect verifying an ES256 access token with the issuer's JWKS (served
 * by a small authorization server process: discovery document and JWKS), against key-auth alone.
 * Goal: the JWKS-validated request keeps at least 90% of key-auth's rps.
 *
 * Observability (issue 5): the gateway above runs without its access log (TOLLGATE_ACCESS_LOG=false)
 * so that every figure is the plugin's alone; a second gateway on the same CPU writes its access
 * log to a file, as a production gateway does by default. Contenders: prometheus on the plain
 * route, the access log alone, and both. Goal: access log + prometheus keep at least 90% of the
 * plain route's rps.
 *
 * The gateways (built dist/), the upstream and a private redis-server run as their own processes.
 * With taskset available the gateways are pinned to CPU 0 and everything else to CPU 1, so a
 * gateway's one worker has one core to itself. With `--rev <commit>` each build gets its two
 * gateways and every scenario runs on both, in the same rounds. BENCH_PLUGINS=<name prefix>,…
 * runs only the scenarios named (the plain route always runs: every ratio needs it).
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import { request } from 'undici';
import { cpuMicros, cpuRatio, hasTaskset, launch, launched, median, percent, printTable, rpsRatio, runLoad, sleep, startGateway, type Round } from './lib.js';
import type { Build } from './revision.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_KEY = 'bench-plugins-admin-key-0123456789';
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
/** Contenders take turns, round after round, so that load from elsewhere on the machine hits them alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const API_KEY = 'bench-consumer-key';
const JWT_SECRET = 'bench-jwt-secret-0123456789abcdef';
/** A quota no benchmark reaches: the limiter runs on every request without rejecting. */
const UNREACHABLE = { count: 1_000_000_000, time_window: 3600 };

const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ ok: true, pad: 'x'.repeat(200) });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); });
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

/** An authorization server as far as a resource server sees one: its discovery document and JWKS. */
const AUTHORIZATION_SERVER = `
const http = require('node:http');
const jwks = process.env.BENCH_JWKS;
const server = http.createServer((req, res) => {
  const issuer = 'http://127.0.0.1:' + server.address().port;
  const body = req.url === '/jwks' ? jwks : req.url === '/.well-known/openid-configuration' ? JSON.stringify({ issuer, jwks_uri: issuer + '/jwks' }) : undefined;
  res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
  res.end(body ?? '{}');
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;
const OIDC_RESOURCE = 'https://gw.bench.example/oidc';

/** A signing key, the JWKS publishing it, and an access token for OIDC_RESOURCE signed with it. */
async function oauthFixture(): Promise<{ jwks: string; sign: (issuer: string) => Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-key', alg: 'ES256', use: 'sig' };
  const sign = (issuer: string) =>
    new SignJWT({ sub: 'bench', scope: 'api:read', client_id: 'bench-client' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'bench-key' })
      .setIssuer(issuer)
      .setAudience(OIDC_RESOURCE)
      .setIssuedAt()
      .setExpirationTime('24h')
      .sign(privateKey);
  return { jwks: JSON.stringify({ keys: [jwk] }), sign };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function admin(base: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await request(`${base}${path}`, {
    method: method as 'PUT',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw Object.assign(new Error(`admin ${method} ${path}: ${res.statusCode} ${text}`), { unknownPlugin: /unknown plugin/.test(text) });
}

interface Contender {
  name: string;
  path: string;
  plugins?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** The gateway that writes an access log (the others run on the one without). */
  logged?: boolean;
}

export const comparesBuilds = true;

/** One gateway process of the run: a build's, with or without its access log. */
interface Gateway {
  url: string;
  admin: string;
  pid: number;
  accessLog?: string;
}

export async function run(builds: Build[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-plugins-'));
  try {
    const upstreamOut = (await launch('1', process.execPath, ['-e', UPSTREAM], /port \d+/, {}, root)).output;
    const upstream = `127.0.0.1:${/port (\d+)/.exec(upstreamOut())![1]}`;
    const redisPort = await freePort();
    await launch('1', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/);
    const gatewayEnv = { TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_REDIS_URL: `redis://127.0.0.1:${redisPort}` };
    const token = jwt.sign({ key: 'bench-jwt', exp: Math.floor(Date.now() / 1000) + 24 * 3600 }, JWT_SECRET);
    const oauth = await oauthFixture();
    const asOut = (await launch('1', process.execPath, ['-e', AUTHORIZATION_SERVER], /port \d+/, { BENCH_JWKS: oauth.jwks }, root)).output;
    const issuer = `http://127.0.0.1:${/port (\d+)/.exec(asOut())![1]}`;
    const accessToken = await oauth.sign(issuer);
    const keyed = { apikey: API_KEY };
    const scenarios: Contender[] = [
      { name: 'no plugins', path: '/plain' },
      { name: 'key-auth + limit-count (local)', path: '/count-local', plugins: { 'key-auth': {}, 'limit-count': UNREACHABLE }, headers: keyed },
      { name: 'key-auth + limit-count (redis)', path: '/count-redis', plugins: { 'key-auth': {}, 'limit-count': { ...UNREACHABLE, policy: 'redis' } }, headers: keyed },
      { name: 'jwt-auth (HS256)', path: '/jwt', plugins: { 'jwt-auth': {} }, headers: { authorization: `Bearer ${token}` } },
      { name: 'key-auth', path: '/key', plugins: { 'key-auth': {} }, headers: keyed },
      {
        name: 'openid-connect (JWKS, ES256)',
        path: '/oidc',
        plugins: { 'openid-connect': { discovery: `${issuer}/.well-known/openid-configuration`, use_jwks: true, resource: OIDC_RESOURCE } },
        headers: { authorization: `Bearer ${accessToken}` },
      },
      { name: 'api-breaker', path: '/breaker', plugins: { 'api-breaker': { break_response_code: 503 } } },
      { name: 'limit-req (local)', path: '/req', plugins: { 'limit-req': { rate: 1_000_000, burst: 1000, key: 'remote_addr', nodelay: true } } },
      { name: 'limit-conn (local)', path: '/conn', plugins: { 'limit-conn': { conn: 100_000, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' } } },
      { name: 'prometheus', path: '/prom', plugins: { prometheus: {} } },
      { name: 'access log (file)', path: '/plain', logged: true },
      { name: 'access log + prometheus', path: '/prom', plugins: { prometheus: {} }, logged: true },
    ];
    const only = process.env.BENCH_PLUGINS?.split(',').map((s) => s.trim());
    const picked = only ? scenarios.filter((c, i) => i === 0 || only.some((o) => c.name.startsWith(o))) : scenarios;

    // Per build, one gateway without an access log (every figure is the plugin's alone) and one
    // that writes its access log to a file, as a production gateway does.
    const gateways: Array<{ plain: Gateway; logged: Gateway; available: boolean[] }> = [];
    for (const [b, build] of builds.entries()) {
      const plainDir = join(dataDir, `${b}`);
      const main = await startGateway(build, { cpu: '0', env: { ...gatewayEnv, TOLLGATE_DATA_DIR: plainDir, TOLLGATE_ACCESS_LOG: 'false' } });
      const loggedDir = join(dataDir, `${b}-logged`);
      const accessLog = join(loggedDir, 'access.log');
      const loggedConfig = join(dataDir, `${b}-logged.yaml`);
      writeFileSync(loggedConfig, `access_log:\n  path: ${JSON.stringify(accessLog)}\n`);
      const logged = await startGateway(build, { cpu: '0', env: { ...gatewayEnv, TOLLGATE_DATA_DIR: loggedDir }, args: ['--config', loggedConfig] });
      for (const gw of [main, logged]) {
        await admin(gw.admin, 'PUT', '/upstreams/up', { nodes: { [upstream]: 1 } });
        await admin(gw.admin, 'PUT', '/consumers', {
          username: 'bench',
          plugins: { 'key-auth': { key: API_KEY }, 'jwt-auth': { key: 'bench-jwt', secret: JWT_SECRET } },
        });
      }
      const available: boolean[] = [];
      for (const [i, c] of picked.entries()) {
        try {
          await admin(c.logged ? logged.admin : main.admin, 'PUT', `/routes/r${i}`, { uri: c.path, upstream_id: 'up', ...(c.plugins ? { plugins: c.plugins } : {}) });
          available.push(true);
        } catch (err) {
          // A revision older than a plugin runs the scenarios it can.
          if (b === 0 || !(err as { unknownPlugin?: boolean }).unknownPlugin) throw err;
          process.stdout.write(`${build.label}: no scenario "${c.name}" (${(err as Error).message})\n`);
          available.push(false);
        }
      }
      gateways.push({ plain: main, logged: { ...logged, accessLog }, available });
    }
    const contenders = builds.flatMap((build, b) =>
      picked.flatMap((c, scenario) =>
        gateways[b].available[scenario]
          ? [{ ...c, scenario, build: b, name: builds.length > 1 ? `${build.label}: ${c.name}` : c.name, gateway: c.logged ? gateways[b].logged : gateways[b].plain }]
          : [],
      ),
    );
    /** The contender running `scenario` (an index into picked) on build `b`, if that build has it. */
    const contenderOf = (b: number, scenario: number) => contenders.findIndex((c) => c.build === b && c.scenario === scenario);
    for (const c of contenders) {
      const res = await request(`${c.gateway.url}${c.path}`, { headers: c.headers });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${c.name}: ${c.path} answered ${res.statusCode}`);
    }

    process.stdout.write(
      `saturation: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s per contender, taking turns (medians shown)${hasTaskset ? '; gateway pinned to CPU 0, upstream, Redis and load generator on CPU 1' : ''}\n`,
    );
    for (const c of contenders) await runLoad({ url: `${c.gateway.url}${c.path}`, duration: 2, connections: CONNECTIONS, headers: c.headers });
    const rounds: Round[][] = contenders.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, c] of contenders.entries()) {
        const pid = c.gateway.pid;
        const cpuBefore = cpuMicros(pid);
        const result = await runLoad({ url: `${c.gateway.url}${c.path}`, duration: DURATION, connections: CONNECTIONS, headers: c.headers });
        rounds[i].push({ ...result, cpuPerRequest: (cpuMicros(pid) - cpuBefore) / (result.rps * DURATION) });
      }
    }
    // Ratios are taken within each round (same background load), then their median; "none" is
    // the plain route of the same build, and the other build's same scenario is the counterpart.
    const none = (i: number) => rounds[contenderOf(contenders[i].build, 0)];
    const other = builds[1]?.label;
    const versusOther = other ? [`rps vs ${other}`, `CPU vs ${other}`] : [];
    printTable(
      'Traffic-control plugins, saturation (one gateway worker; higher rps is better)',
      contenders.map((c, i) => {
        const counterpart = c.build === 0 && other ? contenderOf(1, c.scenario) : -1;
        return {
          name: c.name,
          rps: median(rounds[i].map((r) => r.rps)),
          'p50 ms': median(rounds[i].map((r) => r.p50)),
          'p99 ms': median(rounds[i].map((r) => r.p99)),
          'rps vs none': percent(rpsRatio(rounds[i], none(i))),
          'CPU µs/req': median(rounds[i].map((r) => r.cpuPerRequest)),
          'CPU vs none': percent(cpuRatio(rounds[i], none(i))),
          ...(counterpart >= 0
            ? { [versusOther[0]]: percent(rpsRatio(rounds[i], rounds[counterpart])), [versusOther[1]]: percent(cpuRatio(rounds[i], rounds[counterpart])) }
            : {}),
          errors: rounds[i].reduce((sum, r) => sum + r.errors + r.non2xx, 0),
        };
      }),
      ['rps', 'p50 ms', 'p99 ms', 'rps vs none', 'CPU µs/req', 'CPU vs none', ...versusOther, 'errors'],
    );
    const local = picked.findIndex((c) => c.name === 'key-auth + limit-count (local)');
    if (local >= 0) {
      const share = rpsRatio(rounds[local], rounds[0]);
      process.stdout.write(`\nkey-auth + limit-count (local): ${percent(share)} of the plain route's rps (goal ≥ 85%): ${share >= 0.85 ? 'met' : 'NOT met'}\n`);
    }
    const keyAuth = picked.findIndex((c) => c.name === 'key-auth');
    const oidc = picked.findIndex((c) => c.name.startsWith('openid-connect'));
    if (keyAuth >= 0 && oidc >= 0) {
      const share = rpsRatio(rounds[oidc], rounds[keyAuth]);
      const cpuShare = cpuRatio(rounds[oidc], rounds[keyAuth]);
      process.stdout.write(
        `openid-connect (JWKS): ${percent(share)} of key-auth's rps, ${percent(cpuShare)} by CPU per request (goal ≥ 90%): ${share >= 0.9 ? 'met' : 'NOT met'}${share < 0.9 && cpuShare >= 0.9 ? ' by rps; met by CPU per request' : ''}\n`,
      );
    }
    const observed = picked.findIndex((c) => c.name === 'access log + prometheus');
    if (observed >= 0) {
      const both = rpsRatio(rounds[observed], rounds[0]);
      const cpuShare = cpuRatio(rounds[observed], rounds[0]);
      process.stdout.write(
        `access log + prometheus: ${percent(both)} of the plain route's rps, ${percent(cpuShare)} by CPU per request (goal ≥ 90%): ${both >= 0.9 ? 'met' : 'NOT met'}${both < 0.9 && cpuShare >= 0.9 ? ' by rps; met by CPU per request' : ''}\n`,
      );
    }
    const accessLog = gateways[0].logged.accessLog!;
    if (existsSync(accessLog)) process.stdout.write(`access log written: ${(statSync(accessLog).size / 1024 / 1024).toFixed(0)} MiB\n`);
    process.stdout.write('"CPU vs none": the plain route\'s gateway CPU time per request over this one\'s, i.e. throughput on a core of its own; steadier than rps when the machine is busy.\n');
    if (other) process.stdout.write(`"vs ${other}": this tree's build against the same scenario on ${other}, in the same rounds.\n`);
  } finally {
    for (const child of launched) child.kill('SIGTERM');
    await sleep(300);
    for (const child of launched) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
