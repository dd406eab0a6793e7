/**
 * The gateway as a small MCP client of one backend, for what it asks a server itself: its tools,
 * resources and prompts when no session has listed them yet (GET /apisix/admin/mcp_servers/{id}/
 * tools), and a remote server's health check. It initializes, asks, and closes; a request from
 * the server meanwhile (a ping, a sampling request) gets an answer, since nobody else would.
 */
import type { Backend, BackendEvents } from './backend.js';
import { METHOD_NOT_FOUND, PROTOCOL_VERSIONS, isObject, mcpHttpError, type JsonRpcId } from './jsonrpc.js';
import { MCP_ERRORS } from './errors.js';

/** Pages of a list the probe follows before it reports what it has. */
export const PROBE_MAX_PAGES = 10;

const LIST_FIELD: Readonly<Record<string, string>> = { 'tools/list': 'tools', 'resources/list': 'resources', 'prompts/list': 'prompts' };

interface Waiter {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class ProbeClient {
  readonly backend: Backend;
  private nextId = 1;
  private readonly waiting = new Map<JsonRpcId, Waiter>();
  private ended?: Error;

  /** `open` makes the backend with the events this client handles. */
  constructor(open: (events: BackendEvents) => Backend) {
    this.backend = open({
      message: (text) => this.onMessage(text),
      ended: (end) => this.fail(new Error(end.failure?.message ?? end.reason)),
    });
  }

  /** initialize + notifications/initialized; resolves with the server's InitializeResult. */
  async initialize(timeoutMs: number): Promise<Record<string, unknown>> {
    const result = await this.request(
      'initialize',
      { protocolVersion: PROTOCOL_VERSIONS[0], capabilities: {}, clientInfo: { name: 'tollgate-probe', version: '1.0.0' } },
      timeoutMs,
    );
    this.notify('notifications/initialized');
    return result;
  }

  /**
   * A whole list (`tools/list`…), following `nextCursor` for up to PROBE_MAX_PAGES pages;
   * `complete` is false when there were more.
   */
  async list(method: string, timeoutMs: number): Promise<{ result: Record<string, unknown>; complete: boolean }> {
    const field = LIST_FIELD[method];
    const items: unknown[] = [];
    let cursor: string | undefined;
    let first: Record<string, unknown> | undefined;
    for (let page = 0; page < PROBE_MAX_PAGES; page++) {
      const result = await this.request(method, cursor === undefined ? {} : { cursor }, timeoutMs);
      first ??= result;
      const found = result[field];
      if (Array.isArray(found)) items.push(...found);
      cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
      if (cursor === undefined) {
        const { nextCursor: _next, ...rest } = first;
        return { result: { ...rest, [field]: items }, complete: true };
      }
    }
    const { nextCursor: _next, ...rest } = first!;
    return { result: { ...rest, [field]: items }, complete: false };
  }

  request(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.ended) return Promise.reject(this.ended);
    const id = `tollgate-probe-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(mcpHttpError(MCP_ERRORS.GW_MCP_PROBE_TIMEOUT, `the MCP server did not answer ${method} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.backend.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  notify(method: string, params?: Record<string, unknown>): void {
    this.backend.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
  }

  close(): Promise<void> {
    this.fail(new Error('the probe ended'));
    return this.backend.stop();
  }

  private onMessage(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { id, method } = message;
    if (typeof method === 'string') {
      // A request from the server: answered here, or it would wait for nobody.
      if (typeof id !== 'string' && typeof id !== 'number') return;
      const reply = method === 'ping' ? { result: {} } : { error: { code: METHOD_NOT_FOUND, message: `the gateway's probe does not answer ${method}` } };
      this.backend.send(JSON.stringify({ jsonrpc: '2.0', id, ...reply }));
      return;
    }
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    const error = message.error as { message?: unknown; code?: unknown } | undefined;
    if (error) {
      waiter.reject(mcpHttpError(MCP_ERRORS.GW_MCP_PROBE_ERROR, `the MCP server answered with an error: ${String(error.message ?? error.code)}`));
      return;
    }
    const result = message.result;
    waiter.resolve(isObject(result) ? result : {});
  }

  private fail(err: Error): void {
    this.ended ??= err;
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      this.waiting.delete(id);
      waiter.reject(mcpHttpError(MCP_ERRORS.GW_MCP_PROBE_FAILED, err.message));
    }
  }
}
