/**
 * APISIX's test upstream (`t/lib/server.lua`, served on 127.0.0.1:1980–1982 in its test suite),
 * rebuilt as a real Node server so translated tests get the answers their expectations assume:
 * `/hello` → "hello world\n", `/uri` echoes the path and headers, `/server_port` prints the port the
 * APISIX test would have reached, and so on. A path maps to a handler as in APISIX: drop the
 * leading "/", turn "/", "." and "-" into "_"; an unknown one is 404. Request headers named
 * `resp-<x>` become response header `<x>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ApisixUpstream {
  /** The port an APISIX test names (1980, 1981, 1982). */
  apisixPort: number;
  /** The port this server really listens on. */
  port: number;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: { body: string; uri: string; args: URLSearchParams; apisixPort: number }) => void | Promise<void>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (res: ServerResponse, text: string, status = 200) => {
  if (!res.headersSent) res.statusCode = status;
  res.end(text);
};

/** nginx's `$host`: the Host header without its port, lower-cased. */
const hostOf = (req: IncomingMessage) => String(req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();

/** `ngx.req.get_headers()` printed one per line, sorted, as the APISIX handlers print them. */
function headerLines(req: IncomingMessage, skip: Set<string>): string {
  const seen = new Map<string, string>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (skip.has(name)) continue;
    // HTTP/1.1's default said aloud (undici always says it; nginx's upstream keepalive clears
    // the header): the same connection behaviour as no header, which is what APISIX's tests print.
    if (name === 'connection' && req.rawHeaders[i + 1].toLowerCase() === 'keep-alive') continue;
    seen.set(name, (seen.get(name) ?? '') + req.rawHeaders[i + 1]);
  }
  return [...seen.keys()].sort().map((k) => `${k}: ${seen.get(k)}\n`).join('');
}

const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port']);

const uriEcho: Handler = (req, res, { uri }) => say(res, `uri: ${uri}\n${headerLines(req, FORWARDED)}`);
const serverPort: Handler = (_req, res, { apisixPort }) => say(res, String(apisixPort));

const HANDLERS: Record<string, Handler> = {
  hello: (_req, res) => {
    res.setHeader('content-length', 12);
    say(res, 'hello world\n');
  },
  hello_chunked: async (_req, res) => {
    for (const part of ['hell', 'o w']) {
      res.write(part);
      await sleep(5);
    }
    say(res, 'orld\n');
  },
  hello1: (_req, res) => say(res, 'hello1 world\n'),
  server_port: serverPort,
  server_port_route2: serverPort,
  server_port_hello: serverPort,
  server_port_aa: serverPort,
  limit_conn: async (_req, res) => {
    await sleep(300);
    say(res, 'hello world\n');
  },
  plugin_proxy_rewrite: (req, res, { uri }) => say(res, `uri: ${uri}\nhost: ${hostOf(req)}\nscheme: http\n`),
  plugin_proxy_rewrite_args: (_req, res, { uri, args }) => {
    const keys = [...new Set(args.keys())].sort();
    say(res, `uri: ${uri}\n${keys.map((k) => `${k}: ${args.getAll(k).join(',')}\n`).join('')}`);
  },
  specific_status: (req, res) => {
    const status = req.headers['x-test-upstream-status'];
    if (status !== undefined) return say(res, `upstream status: ${String(status)}\n`, Number(status));
    say(res, '');
  },
  status: (_req, res) => say(res, 'ok\n'),
  uri: uriEcho,
  uri_plugin_proxy_rewrite: uriEcho,
  uri_plugin_proxy_rewrite_args: uriEcho,
  old_uri: (req, res, { uri }) => say(res, `uri: ${uri}\n${headerLines(req, new Set())}`),
  with_header: (_req, res) => say(res, 'hello\nworld\n!\n'),
  opentracing: (_req, res) => say(res, 'opentracing\n'),
  api_breaker: (_req, res, { args }) => say(res, '', Number(args.get('code') ?? 200)),
  mysleep: async (_req, res, { args }) => {
    await sleep(Number(args.get('seconds') ?? 0) * 1000);
    if (args.get('abort')) return void res.destroy();
    say(res, `${args.get('seconds')}\n`);
  },
  print_uri_detailed: (req, res, { uri }) => say(res, `ngx.var.uri: ${uri}\nngx.var.request_uri: ${req.url}\n`),
  print_request_received: (req, res) => say(res, `request_uri: ${req.url}\n${headerLines(req, new Set())}`),
  headers: (_req, res, { args }) => {
    for (const k of new Set(args.keys())) res.setHeader(k, args.get(k) ?? '');
    say(res, '/headers\n');
  },
  echo: (req, res, { body }) => {
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !['content-length', 'transfer-encoding', 'connection'].includes(k)) res.setHeader(k, v);
    }
    say(res, body);
  },
  log: (_req, res) => say(res, ''),
  server_error: (_req, res) => say(res, '<html>500 Internal Server Error</html>', 500),
};
for (let i = 1; i <= 100; i++) HANDLERS[`print_uri_${i}`] = (_req, res, { uri }) => say(res, `${uri}\n`);

export async function startApisixUpstream(apisixPort: number): Promise<ApisixUpstream> {
  const received: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://upstream');
      let uri = url.pathname;
      try {
        uri = decodeURIComponent(uri);
      } catch {
        // nginx keeps an undecodable escape as it is.
      }
      const action = uri.slice(1).replace(/[/\\.-]/g, '_');
      const handler = Object.hasOwn(HANDLERS, action) ? HANDLERS[action] : undefined;
      for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('resp-') && v !== undefined) res.setHeader(k.slice(5), v);
      // 3001 stands for the log collector (vector): it takes whatever is posted to it.
      if (apisixPort === 3001) return say(res, 'ok\n');
      if (!handler) return say(res, '<html>404 Not Found</html>\n', 404);
      void Promise.resolve(handler(req, res, { body, uri, args: url.searchParams, apisixPort })).catch(() => res.destroy());
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    apisixPort,
    port: typeof address === 'object' && address ? address.port : 0,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
