/**
 * A remote MCP server built on the v2 SDK (`@modelcontextprotocol/server`, `createMcpHandler`)
 * on loopback: it speaks 2026-07-28 and, unless `legacy: 'reject'`, serves 2025-era requests
 * statelessly too. Every HTTP request it gets is recorded (headers, JSON-RPC body), so a test can
 * tell what the gateway sent it: modern requests or an initialize, and how many.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createMcpHandler, McpServer, type CacheHint, type McpHttpHandler } from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface Recorded {
  readonly httpMethod: string;
  readonly headers: IncomingHttpHeaders;
  /** The JSON-RPC body, when it had one. */
  readonly body?: { id?: unknown; method?: string; params?: Record<string, any> };
  /** Set when the gateway closed the request before the answer was complete (cancellation). */
  closedEarly: boolean;
  /** Set once the answer's status and headers are written (a listen stream is then subscribed). */
  responded: boolean;
}

export interface ModernServer {
  readonly url: string;
  readonly requests: Recorded[];
  /** The cache hint of tools/list, resources/list and prompts/list; undefined: the SDK's default (private, 0). */
  listHint?: CacheHint;
  /**
   * Answers every 2026-07-28 request as a 2025-era server on the MCP SDK 1.x does (400, -32000:
   * no session), as if replaced in place by one; 2025-era requests are still served.
   */
  refuseModern: boolean;
  /** Requests with this JSON-RPC method. */
  count(method: string): number;
  /** Publishes tools/list_changed to every open subscriptions/listen stream. */
  toolsChanged(): void;
  /** Calls of the `wait` tool that were aborted at the server. */
  readonly aborted: string[];
  /** Headers added to every answer (a server's own cookies, say), besides the SDK's. */
  answerHeaders: Record<string, string>;
  /** Cuts every open connection, as a server that crashes mid-answer does; it still accepts new ones. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startModernServer(options: { legacy?: 'stateless' | 'reject' } = {}): Promise<ModernServer> {
  const requests: Recorded[] = [];
  const aborted: string[] = [];
  const sockets = new Set<Socket>();
  const state = { listHint: undefined as CacheHint | undefined, refuseModern: false, answerHeaders: {} as Record<string, string> };
  const factory = () => {
    const hint = state.listHint;
    const server = new McpServer(
      { name: 'modern-remote', version: '2.0.0' },
      { capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} }, ...(hint ? { cacheHints: { 'tools/list': hint, 'resources/list': hint, 'prompts/list': hint } } : {}) },
    );
    server.registerTool('echo', { description: 'Echoes its message', inputSchema: z.object({ message: z.string() }) }, async ({ message }) => ({
      content: [{ type: 'text', text: `echo: ${message}` }],
    }));
    server.registerTool('secret', { description: 'Only some may see it', inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: 'the secret' }] }));
    server.registerTool('wait', { description: 'Reports progress, then waits until cancelled', inputSchema: z.object({ tag: z.string() }) }, async ({ tag }, ctx) => {
      const token = (ctx.mcpReq as { _meta?: { progressToken?: string | number } })._meta?.progressToken;
      if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2 } });
      await new Promise<void>((resolve) => {
        if (ctx.mcpReq.signal.aborted) return resolve();
        ctx.mcpReq.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      aborted.push(tag);
      return { content: [{ type: 'text', text: 'cancelled' }] };
    });
    server.registerTool(
      'ticks',
      { description: 'Reports progress `count` times, `everyMs` apart, then answers', inputSchema: z.object({ count: z.number(), everyMs: z.number() }) },
      async ({ count, everyMs }, ctx) => {
        const token = (ctx.mcpReq as { _meta?: { progressToken?: string | number } })._meta?.progressToken;
        for (let i = 1; i <= count; i++) {
          await new Promise((resolve) => setTimeout(resolve, everyMs));
          if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: count } });
        }
        return { content: [{ type: 'text', text: `ticked ${count}` }] };
      },
    );
    server.registerPrompt('greet', { description: 'A greeting' }, async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }] }));
    return server;
  };
  const handler: McpHttpHandler = createMcpHandler(factory, { legacy: options.legacy ?? 'stateless' });
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Recorded['body'];
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      const record: Recorded = { httpMethod: req.method!, headers: req.headers, body, closedEarly: false, responded: false };
      requests.push(record);
      if (state.refuseModern && req.headers['mcp-protocol-version'] === '2026-07-28') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request: Mcp-Session-Id header is required' } }));
        record.responded = true;
        return;
      }
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) {
          record.closedEarly = true;
          abort.abort();
        }
      });
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
      const request = new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body: text && req.method === 'POST' ? text : undefined, signal: abort.signal });
      void (async () => {
        try {
          const response = await handler.fetch(request);
          res.writeHead(response.status, { ...Object.fromEntries(response.headers), ...state.answerHeaders });
          record.responded = true;
          if (response.body) {
            const reader = response.body.getReader();
            abort.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined), { once: true });
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              res.write(value);
            }
          }
          res.end();
        } catch {
          res.destroy();
        }
      })();
    });
  });
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  const server: ModernServer = {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    aborted,
    get listHint() {
      return state.listHint;
    },
    set listHint(hint: CacheHint | undefined) {
      state.listHint = hint;
    },
    get answerHeaders() {
      return state.answerHeaders;
    },
    set answerHeaders(headers: Record<string, string>) {
      state.answerHeaders = headers;
    },
    get refuseModern() {
      return state.refuseModern;
    },
    set refuseModern(refuse: boolean) {
      state.refuseModern = refuse;
    },
    count: (method) => requests.filter((r) => r.body?.method === method).length,
    toolsChanged: () => handler.notify.toolsChanged(),
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      await handler.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  return server;
}
