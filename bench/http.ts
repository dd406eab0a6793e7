/**
 * `npm run bench -- http`: Tollgate's HTTP data plane against the floor a Node gateway cannot
 * beat (a bare node:http + undici proxy), in one run, same upstream, same load generator.
 *
 * Contenders run as their own processes. With taskset available, each contender is pinned to
 * CPU 0 while the upstream and the load generator share CPU 1, so "one worker" means one core.
 * Contenders take turns over several rounds (medians shown; ratios are taken within a round, under
 * the same background load), and each one's CPU time per request is read from /proc: on a shared
 * machine that figure moves much less than requests per second. With `--rev <commit>` every
 * Tollgate scenario also runs on that revision's build, in the same rounds.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { RouteMatcher } from '../routes/matcher.js';
import { cpuMicros, hasTaskset, launch, launched, median, percent, printTable, rpsRatio, cpuRatio, runLoad, sleep, startGateway, type LoadResult, type Round } from './lib.js';
import type { Build } from './revision.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

interface Contender {
  name: string;
  url: string;
  pid: number;
  /** The same scenario on the other build, when the run compares two (its index in the contenders). */
  counterpart?: number;
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

function startHttpGateway(build: Build, dataDir: string) {
  return startGateway(build, {
    cpu: '0',
    env: {
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      // The routing figures stay comparable with those recorded before the access log existed;
      // bench plugins measures what it costs.
      TOLLGATE_ACCESS_LOG: 'false',
    },
  });
}

async function admin(base: string, method: string, path: string, body?: unknown): Promise<number> {
  const res = await request(`${base}${path}`, {
    method: method as 'PUT',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.body.dump();
  if (res.statusCode >= 300) throw new Error(`admin ${method} ${path}: ${res.statusCode}`);
  return res.statusCode;
}

/** A catalog file with `count` routes (plus the one we drive), written before the gateway starts. */
function writeBigCatalog(dataDir: string, count: number, upstream: string): void {
  const now = Math.floor(Date.now() / 1000);
  const routes: Record<string, unknown> = {};
  const record = (id: string, uri: string, rev: number) => ({
    value: { id, uri, priority: 0, status: 1, upstream_id: 'up', create_time: now, update_time: now },
    createdIndex: rev,
    modifiedIndex: rev,
  });
  for (let i = 0; i < count; i++) routes[`r${i}`] = record(`r${i}`, i % 2 ? `/svc${i}/items/:id` : `/svc${i}/*`, i + 2);
  routes.target = record('target', '/plain', count + 2);
  const upstreams = { up: { value: { id: 'up', type: 'roundrobin', nodes: { [upstream]: 1 }, create_time: now, update_time: now }, createdIndex: 1, modifiedIndex: 1 } };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'catalog.json'), JSON.stringify({ revision: count + 2, resources: { routes, upstreams } }));
}

function matchCost(count: number): number {
  const entries = [];
  for (let i = 0; i < count; i++) entries.push({ value: i, uris: [i % 2 ? `/svc${i}/items/:id` : `/svc${i}/*`], priority: 0 });
  entries.push({ value: -1, uris: ['/plain'], priority: 0 });
  const matcher = new RouteMatcher(entries);
  const paths = ['/plain', `/svc${count - 1}/items/9`, `/svc${Math.max(0, count - 2)}/a/b`, '/missing/path'];
  const rounds = 1_000_000;
  for (let i = 0; i < 100_000; i++) matcher.match('GET', '', paths[i & 3], '127.0.0.1');
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) matcher.match('GET', '', paths[i & 3], '127.0.0.1');
  return Number(process.hrtime.bigint() - start) / rounds / 1000;
}

export const comparesBuilds = true;

export async function run(builds: Build[]): Promise<void> {
  const dirs: string[] = [];
  try {
    const upstream = await launch('1', process.execPath, [join(root, 'bench/fixtures/upstream.mjs')], /port \d+/);
    const upstreamAddress = `127.0.0.1:${/port (\d+)/.exec(upstream.output())![1]}`;
    const bare = await launch('0', process.execPath, [join(root, 'bench/fixtures/bare-proxy.mjs'), `http://${upstreamAddress}`], /port \d+/);
    const bareUrl = `http://127.0.0.1:${/port (\d+)/.exec(bare.output())![1]}/plain`;

    const globalRule = { plugins: { 'proxy-rewrite': { headers: { set: { 'x-global': '1' } } } } };
    const contenders: Contender[] = [{ name: 'bare node:http + undici proxy', url: bareUrl, pid: bare.child.pid! }];
    const plainUrls: string[] = [];
    for (const build of builds) {
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-http-'));
      dirs.push(dataDir);
      const gw = await startHttpGateway(build, dataDir);
      await admin(gw.admin, 'PUT', '/upstreams/up', { nodes: { [upstreamAddress]: 1 } });
      await admin(gw.admin, 'PUT', '/routes/plain', { uri: '/plain', upstream_id: 'up' });
      await admin(gw.admin, 'PUT', '/routes/plugins', {
        uri: '/with-plugins/*',
        upstream_id: 'up',
        plugins: { 'proxy-rewrite': { regex_uri: ['^/with-plugins/(.*)', '/$1'], headers: { set: { 'x-bench': 'yes' } } }, 'request-id': {} },
      });

      const bigDir = mkdtempSync(join(tmpdir(), 'bench-http-10k-'));
      dirs.push(bigDir);
      writeBigCatalog(bigDir, 10_000, upstreamAddress);
      const big = await startHttpGateway(build, bigDir);
      const started = performance.now();
      for (let i = 0; i < 20; i++) await admin(big.admin, 'PUT', `/routes/extra${i}`, { uri: `/extra/${i}`, upstream_id: 'up' });
      process.stdout.write(`${build.label}: admin PUT with 10,000 routes in the catalog: ${((performance.now() - started) / 20).toFixed(1)} ms per write (until served)\n`);

      plainUrls.push(`${gw.url}/plain`);
      contenders.push(
        { name: `${build.label}: plain route`, url: `${gw.url}/plain`, pid: gw.pid },
        { name: `${build.label}: plain among 10,000 routes`, url: `${big.url}/plain`, pid: big.pid },
        {
          name: `${build.label}: proxy-rewrite + request-id + global rule`,
          url: `${gw.url}/with-plugins/plain`,
          pid: gw.pid,
          before: async () => void (await admin(gw.admin, 'PUT', '/global_rules/g', globalRule)),
          after: async () => void (await admin(gw.admin, 'DELETE', '/global_rules/g')),
        },
      );
    }
    // Each scenario of this tree's build against the same scenario of the revision's.
    const perBuild = (contenders.length - 1) / builds.length;
    if (builds.length > 1) for (let i = 1; i <= perBuild; i++) contenders[i].counterpart = i + perBuild;

    process.stdout.write(
      `saturation: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s per contender, taking turns${hasTaskset ? ', contender pinned to CPU 0' : ''}\n`,
    );
    const rounds: Round[][] = contenders.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, contender] of contenders.entries()) {
        await contender.before?.();
        await runLoad({ url: contender.url, duration: 1, connections: CONNECTIONS });
        const cpuBefore = cpuMicros(contender.pid);
        const result = await runLoad({ url: contender.url, duration: DURATION, connections: CONNECTIONS });
        rounds[i].push({ ...result, cpuPerRequest: (cpuMicros(contender.pid) - cpuBefore) / Math.max(1, result.rps * DURATION) });
        await contender.after?.();
      }
    }
    const other = builds[1]?.label;
    const versusOther = other ? [`rps vs ${other}`, `CPU vs ${other}`] : [];
    printTable(
      'HTTP proxy, saturation (higher rps is better; medians over the rounds)',
      contenders.map(({ name, counterpart }, i) => ({
        name,
        rps: median(rounds[i].map((r) => r.rps)),
        'p50 ms': median(rounds[i].map((r) => r.p50)),
        'p99 ms': median(rounds[i].map((r) => r.p99)),
        'rps vs bare': percent(rpsRatio(rounds[i], rounds[0])),
        'CPU µs/req': median(rounds[i].map((r) => r.cpuPerRequest)),
        'CPU vs bare': percent(cpuRatio(rounds[i], rounds[0])),
        ...(counterpart === undefined
          ? {}
          : { [versusOther[0]]: percent(rpsRatio(rounds[i], rounds[counterpart])), [versusOther[1]]: percent(cpuRatio(rounds[i], rounds[counterpart])) }),
        errors: rounds[i].reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      })),
      ['rps', 'p50 ms', 'p99 ms', 'rps vs bare', 'CPU µs/req', 'CPU vs bare', ...versusOther, 'errors'],
    );
    process.stdout.write('"CPU vs bare": the bare proxy\'s CPU time per request over this one\'s, i.e. its throughput on a core of its own.\n');
    if (other) process.stdout.write(`"vs ${other}": this tree's build against the same scenario on ${other}, in the same rounds.\n`);

    const rate = Math.round(median(rounds[0].map((r) => r.rps)) / 2);
    // Like saturation, the two take turns over the rounds and each round's added latency is
    // taken within the round: one burst of the machine's other work then spoils one round's
    // figure, not the result.
    const halfLoad: Array<[string, string]> = [
      ['bare node:http + undici proxy', bareUrl],
      ...builds.map((build, i): [string, string] => [`${build.label}: plain route`, plainUrls[i]]),
    ];
    const half: LoadResult[][] = halfLoad.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, url]] of halfLoad.entries()) {
        await runLoad({ url, duration: 2, connections: 32, rate });
        half[i].push(await runLoad({ url, duration: DURATION, connections: 32, rate }));
      }
    }
    const added = (i: number, pick: (r: LoadResult) => number) => median(half[i].map((r, round) => pick(r) - pick(half[0][round])));
    printTable(
      `Latency at about half of the bare proxy's saturation (target ${rate} rps, wrk paced; achieved rps shown; medians over ${ROUNDS} rounds, added = median of in-round differences)`,
      halfLoad.map(([name], i) => ({
        name,
        rps: median(half[i].map((r) => r.rps)),
        'p50 ms': median(half[i].map((r) => r.p50)),
        'p99 ms': median(half[i].map((r) => r.p99)),
        'added p50 ms': added(i, (r) => r.p50),
        'added p99 ms': added(i, (r) => r.p99),
        'p99 by round': half[i].map((r) => r.p99.toFixed(1)).join(' '),
      })),
      ['rps', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'p99 by round'],
    );
    // Paced wrk reaches ~75-80% of the target on its own (each connection waits PACE_MS plus the
    // response time); far below that, a contender could not keep up.
    const heldRate = Math.min(...half.map((rounds) => median(rounds.map((r) => r.rps)))) / rate;
    if (heldRate < 0.6) {
      process.stdout.write(
        `warning: a contender held only ${(heldRate * 100).toFixed(0)}% of the target rate: it was short of CPU, so these are saturation latencies, not half-load ones; run again on a quieter machine.\n`,
      );
    }

    const one = matchCost(1);
    const tenThousand = matchCost(10_000);
    printTable(
      'Route matching, in process (1,000,000 lookups over 4 paths)',
      [
        { name: '1 route', 'µs per match': one },
        { name: '10,000 routes', 'µs per match': tenThousand, 'vs 1 route': `${((tenThousand / one) * 100).toFixed(0)}%` },
      ],
      ['µs per match', 'vs 1 route'],
    );
  } finally {
    for (const child of launched) child.kill('SIGTERM');
    await sleep(300);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
