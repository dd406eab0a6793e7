/**
 * What the core learns from an MCP request before the chain runs, so that auth, limits and logs
 * can key on the JSON-RPC method and the tool/resource/prompt name without parsing bodies
 * themselves. The parse is done once, here; the bridge reuses the result.
 */
import type { McpItemKind, McpListFilter, McpRequestInfo } from './context.js';

export const JSONRPC_PARSE_ERROR = -32700;
export const JSONRPC_INVALID_REQUEST = -32600;

type Transport = McpRequestInfo['transport'];

type McpFields = Omit<McpRequestInfo, 'refuse' | 'refusedBy' | 'filterList' | 'keeps' | 'filtersList'>;

/** One MCP message as the core described it, with what plugins decided about it (the message filters). */
class McpMessage implements McpRequestInfo {
  readonly transport: Transport;
  readonly kind: McpRequestInfo['kind'];
  readonly batch?: readonly McpRequestInfo[];
  readonly method?: string;
  readonly id?: string | number;
  readonly name?: string;
  readonly sessionId?: string;
  readonly message?: unknown;
  readonly error?: { code: number; message: string };
  refusedBy?: string;
  private filters?: McpListFilter[];

  constructor(fields: McpFields) {
    this.transport = fields.transport;
    this.kind = fields.kind;
    this.batch = fields.batch;
    this.method = fields.method;
    this.id = fields.id;
    this.name = fields.name;
    this.sessionId = fields.sessionId;
    this.message = fields.message;
    this.error = fields.error;
  }

  refuse(plugin: string): void {
    // The first refusal is the one reported; a batch is refused message by message.
    this.refusedBy ??= plugin;
  }

  filterList(_plugin: string, keep: McpListFilter): void {
    (this.filters ??= []).push(keep);
  }

  get filtersList(): boolean {
    return this.filters !== undefined;
  }

  keeps(kind: McpItemKind, name: string): boolean {
    if (!this.filters) return true;
    for (const keep of this.filters) {
      try {
        if (!keep(kind, name)) return false;
      } catch {
        return false;
      }
    }
    return true;
  }
}

/** A request that carries no JSON-RPC message (a GET, a DELETE, a body of another type). */
export function describeNoMessage(transport: Transport, sessionId: string | undefined): McpRequestInfo {
  return new McpMessage({ transport, kind: 'none', sessionId });
}

/** The requests that name one item, and the field of `params` that holds its name. */
export const NAMED_BY: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'resources/subscribe': 'uri',
  'resources/unsubscribe': 'uri',
};

/** Where each list method's result holds its items, and which field names an item. */
export const LIST_ITEMS: Readonly<Record<string, { readonly key: string; readonly field: string; readonly kind: McpItemKind }>> = {
  'tools/list': { key: 'tools', field: 'name', kind: 'tool' },
  'prompts/list': { key: 'prompts', field: 'name', kind: 'prompt' },
  'resources/list': { key: 'resources', field: 'uri', kind: 'resource' },
  'resources/templates/list': { key: 'resourceTemplates', field: 'uriTemplate', kind: 'resource_template' },
};

/**
 * A list result with only the items `info`'s filters keep (the same object when it keeps them
 * all); for content plugins, which apply a request's list filters to its result.
 */
export function filterListResult(method: string, result: Record<string, unknown>, info: Pick<McpRequestInfo, 'keeps'>): Record<string, unknown> {
  const shape = LIST_ITEMS[method];
  const items = shape ? result[shape.key] : undefined;
  if (!shape || !Array.isArray(items)) return result;
  const kept = items.filter((item) => {
    const name = (item as Record<string, unknown> | null)?.[shape.field];
    return typeof name === 'string' && info.keeps(shape.kind, name);
  });
  return kept.length === items.length ? result : { ...result, [shape.key]: kept };
}

/** Which MCP endpoint a path addresses under `basePath`, if any. */
export function mcpTransportOf(path: string, basePath: string): Transport | undefined {
  if (!path.startsWith(basePath)) return undefined;
  const rest = path.slice(basePath.length);
  if (rest === '/mcp') return 'streamable-http';
  if (rest === '/sse' || rest === '/message') return 'sse';
  return undefined;
}

/** A batch holds at most this many messages unless the route says otherwise (the MCP SDK's own cap). */
export const DEFAULT_MAX_BATCH_MESSAGES = 100;

export function describeMcpMessage(
  transport: Transport,
  sessionId: string | undefined,
  body: Buffer | undefined,
  maxBatchMessages = DEFAULT_MAX_BATCH_MESSAGES,
): McpRequestInfo {
  if (body === undefined || body.length === 0) {
    return new McpMessage({ transport, kind: body === undefined ? 'none' : 'invalid', sessionId, error: body ? { code: JSONRPC_INVALID_REQUEST, message: 'empty body' } : undefined });
  }
  let message: unknown;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return new McpMessage({ transport, kind: 'invalid', sessionId, error: { code: JSONRPC_PARSE_ERROR, message: `Parse error: ${(err as Error).message}` } });
  }
  if (!Array.isArray(message)) return describeOne(transport, sessionId, message);
  const invalid = (why: string): McpRequestInfo =>
    new McpMessage({ transport, kind: 'invalid', sessionId, message, error: { code: JSONRPC_INVALID_REQUEST, message: `Invalid Request: ${why}` } });
  if (message.length === 0) return invalid('an empty batch');
  if (message.length > maxBatchMessages) return invalid(`a batch of ${message.length} messages; at most ${maxBatchMessages} (max_batch_messages)`);
  const batch: McpRequestInfo[] = [];
  for (const [index, element] of message.entries()) {
    const described = Array.isArray(element) ? undefined : describeOne(transport, sessionId, element);
    // One bad message refuses the whole batch: nothing of it runs, as with a single bad message.
    if (!described || described.kind === 'invalid') return invalid(`batch message ${index}: ${described?.error?.message.replace(/^Invalid Request: /, '') ?? 'a batch cannot nest'}`);
    batch.push(described);
  }
  return new McpMessage({ transport, kind: 'batch', sessionId, message, batch });
}

function describeOne(transport: Transport, sessionId: string | undefined, message: unknown): McpRequestInfo {
  const invalid = (why: string): McpRequestInfo =>
    new McpMessage({ transport, kind: 'invalid', sessionId, message, error: { code: JSONRPC_INVALID_REQUEST, message: `Invalid Request: ${why}` } });
  if (typeof message !== 'object' || message === null) return invalid('a message must be an object');
  const m = message as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return invalid('jsonrpc must be "2.0"');
  const hasId = 'id' in m;
  if (hasId && typeof m.id !== 'string' && !(typeof m.id === 'number' && Number.isInteger(m.id))) {
    return invalid('id must be a string or an integer');
  }
  const id = m.id as string | number | undefined;
  if ('method' in m) {
    if (typeof m.method !== 'string' || !m.method) return invalid('method must be a non-empty string');
    const params = m.params as Record<string, unknown> | undefined;
    if (params !== undefined && (typeof params !== 'object' || params === null)) return invalid('params must be an object or array');
    return new McpMessage({ transport, kind: hasId ? 'request' : 'notification', method: m.method, id, name: nameOf(m.method, params), sessionId, message });
  }
  if (hasId && ('result' in m || 'error' in m)) return new McpMessage({ transport, kind: 'response', id, sessionId, message });
  return invalid('neither a request, a notification nor a response');
}

function nameOf(method: string, params: Record<string, unknown> | undefined): string | undefined {
  if (!params || Array.isArray(params)) return undefined;
  if (method === 'completion/complete') {
    // Completing a prompt's argument or a resource template's variable names that prompt or template.
    const ref = params.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
    const value = ref?.type === 'ref/prompt' ? ref.name : ref?.type === 'ref/resource' ? ref.uri : undefined;
    return typeof value === 'string' ? value : undefined;
  }
  const field = NAMED_BY[method];
  const value = field ? params[field] : undefined;
  return typeof value === 'string' ? value : undefined;
}
