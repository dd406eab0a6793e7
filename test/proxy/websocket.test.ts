/**
 * WebSocket proxying (APISIX's `enable_websocket`): a real client socket speaks the RFC 6455
 * handshake through the gateway to a real upstream that switches protocols and echoes what it
 * gets; after the 101 the gateway carries bytes both ways, untouched. The chain still runs on the
 * handshake (authentication), a route without the option proxies the request as a plain one,
 * and either side closing closes the other.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

interface EchoUpstream {
  address: string;
  /** Handshakes and plain requests it received, with their headers. */
  seen: Array<{ upgrade: boolean; url: string; headers: IncomingMessage['headers'] }>;
  /** Upstream sides of the tunnels, to close from the server's end. */
  sockets: Socket[];
  /** Answer handshakes with this status instead of 101. */
  refuseWith?: number;
  close(): Promise<void>;
}

/** Echoes every chunk back prefixed with "echo:", after a correct 101. */
async function startEchoUpstream(): Promise<EchoUpstream> {
  const state: EchoUpstream = { address: '', seen: [], sockets: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    state.seen.push({ upgrade: false, url: req.url ?? '', headers: req.headers });
    res.end('plain answer');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    state.seen.push({ upgrade: true, url: req.url ?? '', headers: req.headers });
    if (state.refuseWith) {
      socket.end(`HTTP/1.1 ${state.refuseWith} Forbidden\r\ncontent-length: 7\r\nconnection: close\r\n\r\nno, you`);
      return;
    }
    state.sockets.push(socket);
    socket.on('error', () => socket.destroy());
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\nX-Upstream: echo\r\n\r\n`,
    );
    if (head.length > 0) socket.write(Buffer.concat([Buffer.from('echo:'), head]));
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), chunk])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const s of state.sockets) s.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}

/** A client socket after its handshake: the response head, and what arrived after it. */
interface Handshake {
  socket: Socket;
  status: number;
  head: string;
  /** Bytes after the head, as they arrive. */
  received(): string;
  closed(): boolean;
}

async function handshake(gw: TestGateway, path: string, headers: Record<string, string> = {}, early = ''): Promise<Handshake> {
  const url = new URL(gw.url);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const key = Buffer.from('sixteen byte key').toString('base64');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  let buffer = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (buffer += chunk.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  socket.write(`${lines.join('\r\n')}\r\n\r\n${early}`);
  await waitFor(() => buffer.includes('\r\n\r\n') || closed, 5000);
  const end = buffer.indexOf('\r\n\r\n');
  const head = end < 0 ? buffer : buffer.slice(0, end);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  if (status === 101) expect(head).to.include(`sec-websocket-accept: ${accept(key)}`);
  return { socket, status, head, received: () => (end < 0 ? '' : buffer.slice(end + 4)), closed: () => closed };
}

describe('WebSocket proxying (enable_websocket)', () => {
  let gw: TestGateway;
  let upstream: EchoUpstream;
  const clients: Socket[] = [];

  before(async () => {
    upstream = await startEchoUpstream();
    gw = await startTestGateway({ overrides: { timeouts: { headers: 1 } } });
    const nodes = { [upstream.address]: 1 };
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await gw.admin('PUT', path, body);
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    };
    await put('/routes/ws', { uri: '/ws', enable_websocket: true, upstream: { nodes } });
    await put('/routes/plain', { uri: '/plain', upstream: { nodes } });
    await put('/routes/locked', { uri: '/locked', enable_websocket: true, upstream: { nodes }, plugins: { 'key-auth': {} } });
    await put('/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
    await put('/services/sockets', { enable_websocket: true, upstream: { nodes } });
    await put('/routes/by-service', { uri: '/by-service', service_id: 'sockets' });
    await put('/routes/opted-out', { uri: '/opted-out', service_id: 'sockets', enable_websocket: false });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
    upstream.refuseWith = undefined;
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  const open = async (path: string, headers?: Record<string, string>, early?: string) => {
    const h = await handshake(gw, path, headers, early);
    clients.push(h.socket);
    return h;
  };

  it('switches protocols with the upstream and carries bytes both ways (APISIX routes3.t TEST 20)', async () => {
    const ws = await open('/ws');
    expect(ws.status).to.equal(101);
    expect(ws.head).to.include('x-upstream: echo');
    ws.socket.write('hello');
    expect(await waitFor(() => ws.received() === 'echo:hello', 3000)).to.equal(true);
    ws.socket.write(Buffer.from([0x81, 0x00, 0xff]));
    expect(await waitFor(() => ws.received().endsWith('echo:\x81\x00\xff'), 3000)).to.equal(true);
    const sent = upstream.seen.at(-1)!;
    expect(sent.upgrade).to.equal(true);
    expect(sent.headers['x-real-ip']).to.equal('127.0.0.1');
    expect(sent.headers['sec-websocket-version']).to.equal('13');
  });

  it('carries the bytes a client sends right behind its handshake', async () => {
    const ws = await open('/ws', {}, 'early-frame');
    expect(ws.status).to.equal(101);
    expect(await waitFor(() => ws.received() === 'echo:early-frame', 3000)).to.equal(true);
  });

  it('keeps an idle tunnel open past the request head timeout', async () => {
    const ws = await open('/ws');
    await new Promise((r) => setTimeout(r, 2500));
    expect(ws.closed()).to.equal(false);
    ws.socket.write('still here');
    expect(await waitFor(() => ws.received() === 'echo:still here', 3000)).to.equal(true);
  });

  it('closes the other side when either side closes', async () => {
    const fromClient = await open('/ws');
    const upstreamSide = upstream.sockets.at(-1)!;
    fromClient.socket.end();
    expect(await waitFor(() => upstreamSide.destroyed || upstreamSide.readableEnded, 3000)).to.equal(true);
    const fromUpstream = await open('/ws');
    upstream.sockets.at(-1)!.destroy();
    expect(await waitFor(() => fromUpstream.closed(), 3000)).to.equal(true);
  });

  it('runs the chain on the handshake: without a key, 401 and the upstream never hears of it', async () => {
    const before = upstream.seen.length;
    const refused = await open('/locked');
    expect(refused.status).to.equal(401);
    expect(await waitFor(() => refused.closed(), 3000)).to.equal(true);
    expect(upstream.seen.length).to.equal(before);
    const allowed = await open('/locked', { apikey: 'jack-key' });
    expect(allowed.status).to.equal(101);
    expect(upstream.seen.at(-1)!.headers['x-consumer-username']).to.equal('jack');
  });

  it("passes on an upstream's refusal to switch", async () => {
    upstream.refuseWith = 403;
    const ws = await open('/ws');
    expect(ws.status).to.equal(403);
    expect(await waitFor(() => ws.received() === 'no, you' && ws.closed(), 3000)).to.equal(true);
  });

  it('proxies an upgrade as a plain request on a route without enable_websocket, and closes the connection', async () => {
    const ws = await open('/plain');
    expect(ws.status).to.equal(200);
    expect(await waitFor(() => ws.received() === 'plain answer' && ws.closed(), 3000)).to.equal(true);
    const sent = upstream.seen.at(-1)!;
    expect(sent.upgrade).to.equal(false);
    expect(sent.headers).to.not.have.property('upgrade');
  });

  it("takes the service's enable_websocket, and lets a route turn it off (APISIX merge-route.t TEST 14-16)", async () => {
    expect((await open('/by-service')).status).to.equal(101);
    expect((await open('/opted-out')).status).to.equal(200);
    // A plain request on a WebSocket route is proxied as usual.
    expect((await gw.get('/by-service')).text).to.equal('plain answer');
  });

  it('answers a handshake for no route with 404 and closes', async () => {
    const ws = await open('/nowhere');
    expect(ws.status).to.equal(404);
    expect(await waitFor(() => ws.closed(), 3000)).to.equal(true);
  });

  it('ends open tunnels when the gateway shuts down, after its grace period', async () => {
    const other = await startTestGateway({ overrides: { timeouts: { shutdown: 0.3 } } });
    try {
      expect((await other.admin('PUT', '/routes/ws', { uri: '/ws', enable_websocket: true, upstream: { nodes: { [upstream.address]: 1 } } })).status).to.equal(201);
      const ws = await handshake(other, '/ws');
      clients.push(ws.socket);
      expect(ws.status).to.equal(101);
      const upstreamSide = upstream.sockets.at(-1)!;
      const started = Date.now();
      await other.stop();
      expect(Date.now() - started).to.be.below(3000);
      expect(await waitFor(() => ws.closed() && (upstreamSide.destroyed || upstreamSide.readableEnded), 3000)).to.equal(true);
    } finally {
      await other.stop().catch(() => {});
    }
  });

  it('stores enable_websocket as sent and refuses a value that is not a boolean', async () => {
    expect((await gw.admin('GET', '/routes/ws')).json.value.enable_websocket).to.equal(true);
    const bad = await gw.admin('PUT', '/routes/bad', { uri: '/bad', enable_websocket: 'yes', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(bad.status).to.equal(400);
    expect(bad.json.error_msg).to.match(/enable_websocket/);
  });
});
