/**
 * Real upstream HTTP servers on loopback, controllable from the test: echo by default, or any
 * handler; `behaviour` switches a running server to fail, hang or reset on command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Behaviour = 'echo' | 'fail' | 'hang' | 'reset';

export interface TestUpstream {
  port: number;
  address: string;
  url: string;
  seen: SeenRequest[];
  behaviour: Behaviour;
  /** Status answered in 'fail' mode. */
  failStatus: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export async function startUpstream(handler?: Handler, name = 'upstream'): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const state: TestUpstream = {
    port: 0,
    address: '',
    url: '',
    seen: [],
    behaviour: 'echo',
    failStatus: 500,
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    if (state.behaviour === 'reset') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: body.toString('utf8') });
      if (state.behaviour === 'hang') return;
      if (state.behaviour === 'fail') {
        res.writeHead(state.failStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ failed: true, upstream: name }));
        return;
      }
      if (handler) return handler(req, res, body);
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8') }));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  state.address = `127.0.0.1:${state.port}`;
  state.url = `http://${state.address}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

/**
 * A node whose connection attempts hang: a process listening with a backlog of one that never
 * accepts (a Node server always accepts). Fill the backlog with one connection of your own; every
 * later attempt is neither accepted nor refused until its connect timeout.
 */
export async function unacceptingListener(): Promise<{ child: ChildProcess; port: number }> {
  const script = 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)';
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  return { child, port };
}
