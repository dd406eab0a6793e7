/**
 * No error in one request may end the gateway (issue 10, item 1): clients that abandon uploads
 * or responses at any moment, including while their request waits for an upstream connection,
 * against a real gateway process, which must stay up and keep serving.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_KEY = 'client-aborts-admin-key-0123456789';

describe('faults: clients that abandon requests', () => {
  let dataDir: string;
  let gw: GatewayProcess;
  let upstream: TestUpstream;

  before(async () => {
    // Answers after a random delay, in a few chunks: slow enough that requests overlap and queue.
    upstream = await startUpstream((_req, res, body) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let chunks = 4;
      const next = () => {
        if (res.destroyed) return;
        if (chunks-- === 0) return void res.end(`received ${body.length}\n`);
        res.write('x'.repeat(1024));
        setTimeout(next, Math.random() * 10);
      };
      setTimeout(next, Math.random() * 40);
    });
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-aborts-'));
    mkdirSync(join(dataDir, 'plugins'));
    writeFileSync(join(dataDir, 'plugins', 'careless.ts'), CARELESS_PLUGIN);
    writeFileSync(join(dataDir, 'config.yaml'), `plugin_dirs: [${JSON.stringify(join(dataDir, 'plugins'))}]\n`);
    gw = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: ADMIN_KEY }, ['--config', join(dataDir, 'config.yaml')]);
    // One pooled connection: most requests wait for it, the window the reported crash needed.
    const route = await gw.admin('PUT', '/routes/one', { uri: '/one/*', upstream: { nodes: { [upstream.address]: 1 }, keepalive_pool: { size: 1 } } });
    expect(route.status).to.equal(201);
  });
  after(async () => {
    await gw?.stop('SIGKILL');
    await upstream?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(function () {
    if (gw.child.exitCode !== null || gw.child.signalCode !== null) {
      throw new Error(`the gateway exited (${gw.child.exitCode ?? gw.child.signalCode}):\n${gw.output().slice(-3000)}`);
    }
  });

  it('survives an upload abandoned while its request waits for the only upstream connection', async () => {
    const port = Number(new URL(gw.url).port);
    // Holds the pool's one connection for a moment.
    const busy = request(`${gw.url}/one/busy`).then((r) => r.body.text());
    const abandoned = openSocket(port);
    abandoned.write('POST /one/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n' + 'a'.repeat(1000));
    await new Promise((r) => setTimeout(r, 20));
    abandoned.destroy();
    await busy;
    expect((await request(`${gw.url}/one/after`)).statusCode).to.equal(200);
    expect(gw.child.exitCode).to.equal(null);
  });

  it('survives a plugin that writes to a response it already ended', async () => {
    expect((await gw.admin('PUT', '/routes/careless', { uri: '/careless', plugins: { careless: {} } })).status).to.equal(201);
    const res = await request(`${gw.url}/careless`);
    expect(await res.body.text()).to.equal('done');
    // The late write fails on the next tick; the process must still be there after it.
    await new Promise((r) => setTimeout(r, 200));
    expect((await request(`${gw.url}/one/after-careless`)).statusCode).to.equal(200);
  });

  it('survives a plugin reply the core cannot serialize, answering it with 500', async () => {
    expect((await gw.admin('PUT', '/routes/careless-bigint', { uri: '/careless/bigint', plugins: { careless: {} } })).status).to.equal(201);
    const res = await request(`${gw.url}/careless/bigint`);
    expect(res.statusCode).to.equal(500);
    expect(((await res.body.json()) as { error_msg: string }).error_msg).to.equal('Internal Server Error');
    await new Promise((r) => setTimeout(r, 200));
    expect((await request(`${gw.url}/one/after-bigint`)).statusCode).to.equal(200);
  });

  it('stays up and keeps serving through a bounded load of clients leaving at random moments', async function () {
    this.timeout(60_000);
    const port = Number(new URL(gw.url).port);
    const seed = Number(process.env.ABORTS_SEED) || Date.now() % 100_000;
    const random = lcg(seed);
    const kinds = ['complete', 'during-headers', 'mid-upload', 'after-upload', 'mid-response', 'reset-mid-upload'] as const;
    const outcomes: Record<string, number> = {};
    let next = 0;
    const total = 300;
    const worker = async () => {
      while (next < total) {
        next += 1;
        const kind = kinds[Math.floor(random() * kinds.length)];
        const ok = await oneClient(port, kind, random);
        outcomes[`${kind}:${ok ? 'ok' : 'cut'}`] = (outcomes[`${kind}:${ok ? 'ok' : 'cut'}`] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    expect(gw.child.exitCode, `seed ${seed}: ${JSON.stringify(outcomes)}`).to.equal(null);
    // Still serving, and nothing left in flight once the dust settles.
    const res = await request(`${gw.url}/one/final`, { method: 'POST', body: 'hello' });
    expect(res.statusCode).to.equal(200);
    expect(await res.body.text()).to.include('received 5');
    const settled = await waitFor(async () => /tollgate_http_current_connections\{state="requests"\} 0\b/.test(await metrics(gw.metricsUrl)), 10_000, 100);
    expect(settled, `requests still in flight (seed ${seed})`).to.equal(true);
    expect(outcomes['complete:ok'] ?? 0, JSON.stringify(outcomes)).to.be.greaterThan(0);
  });
});

/** A custom plugin with a bug: it writes to its response after ending it. */
const CARELESS_PLUGIN = `import { definePlugin } from 'tollgate';
export default definePlugin({
  name: 'careless',
  version: '1.0.0',
  priority: 71,
  schema: { type: 'object' },
  content(ctx) {
    if (ctx.gateway.path === '/careless/bigint') {
      // A body JSON cannot serialize: the core's reply fails after the chain has finished.
      ctx.body = { count: 1n };
      return;
    }
    ctx.respond = false;
    ctx.res.end('done');
    ctx.res.write('late');
  },
});
`;

/**
 * One client on a raw socket. `complete` sends an upload and reads the whole answer; the others
 * leave at the moment their name says (a reset is an RST instead of a FIN). Resolves true when
 * the client read a complete 200 answer.
 */
function oneClient(port: number, kind: string, random: () => number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = openSocket(port);
    const size = 4096 + Math.floor(random() * 64 * 1024);
    const body = Buffer.alloc(size, 'b');
    const head = `POST /one/${kind} HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`;
    let answer = '';
    const leave = (reset = false) => {
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    };
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      if (kind === 'mid-response' && answer.length > 20) leave();
    });
    socket.on('close', () => resolve(answer.startsWith('HTTP/1.1 200') && answer.includes(`received ${size}`)));
    const cut = Math.floor(random() * size);
    const waitMs = random() * 30;
    switch (kind) {
      case 'during-headers':
        socket.write(head.slice(0, Math.floor(random() * head.length)));
        setTimeout(leave, waitMs);
        break;
      case 'mid-upload':
      case 'reset-mid-upload':
        socket.write(head);
        socket.write(body.subarray(0, cut));
        setTimeout(() => leave(kind === 'reset-mid-upload'), waitMs);
        break;
      case 'after-upload':
        socket.write(head);
        socket.write(body);
        setTimeout(leave, waitMs);
        break;
      default:
        socket.write(head);
        socket.write(body);
    }
  });
}

function openSocket(port: number): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  return socket;
}

/** A small seeded generator, so a failing run can be replayed with its seed. */
function lcg(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

async function metrics(url: string): Promise<string> {
  const res = await request(url);
  return res.body.text();
}
