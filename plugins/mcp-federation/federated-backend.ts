/**
 * One client session's backend on a federation route: several MCP servers behind one name map.
 * To the session (the kit's Session, which speaks to the client) it is one backend like a child
 * or a remote server; behind it each server has its own session (member.ts), opened when first
 * needed.
 *
 * - initialize is answered here: the gateway's serverInfo, the union of the servers'
 *   capabilities (as last seen), the client's protocol version when served.
 * - Lists are merged in `servers` order, tools and prompts renamed `{prefix}{separator}{name}`,
 *   resources and templates as they are (the first server to list a URI keeps it), and paged
 *   with a cursor of the gateway's own. A server that cannot answer in list_timeout is left out.
 * - tools/call and prompts/get go to the server that owns the name, unprefixed; resources/read,
 *   (un)subscribe to the first server that lists the URI, else the first whose template matches
 *   it; completion/complete to the owner of its reference. A name no server has is answered
 *   here, the same way every time (the message filters rely on it: a refused name reads as one).
 * - Request ids and progress tokens the servers see are the gateway's, so two servers using the
 *   same ids never collide; server→client requests (sampling, elicitation, roots) reach the
 *   client under ids of the gateway's own, and the answers go back to the server that asked.
 * - A server's list_changed empties that server's cached list; the client hears one merged
 *   list_changed. A server that goes down loses its items from the lists; its calls are answered
 *   with an error naming it; the client's session carries on.
 */
import type { Logger } from '../../core/logger.js';
import {
  CONNECTION_CLOSED,
  INVALID_PARAMS,
  METHOD_NOT_FOUND,
  PROTOCOL_VERSIONS,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Backend,
  type BackendEnd,
  type BackendEvents,
  type BackendInfo,
  type JsonRpcId,
  type Runtime,
} from '../kit/mcp/index.js';
import type { FederationConf } from './schema.js';
import { Member, type MemberHost, type MemberSpec, type Relay } from './member.js';
import { LISTS, STALE_LISTS, decodeCursor, encodeCursor, isValidToolName, templateMatcher } from './names.js';

/** MCP's code for a resource no server has (unknown tools and prompts are INVALID_PARAMS). */
const RESOURCE_NOT_FOUND = -32002;

/** Several servers' list_changed within this window reach the client as one. */
const LIST_CHANGED_WINDOW_MS = 100;

/** What a server is taken to offer until it has answered initialize once: everything a federation merges. */
const ASSUMED_CAPABILITIES: Readonly<Record<string, unknown>> = { tools: {}, prompts: {}, resources: { subscribe: true }, logging: {}, completions: {} };

/** The route-level side of a federation that its client sessions share. */
export interface FederationRoute {
  readonly conf: FederationConf;
  readonly specs: readonly MemberSpec[];
  readonly runtime: Runtime;
  readonly routeId: string;
  /** limits.max_regex_program, for resource templates. */
  readonly maxRegexProgram: number;
}

/** The client session as the backend knows it. */
export interface ClientSession {
  readonly id: string;
  readonly consumer: string | undefined;
  readonly transport: 'streamable-http' | 'sse';
}

type Message = Record<string, unknown>;

/** A server→client request, by the id the client sees. */
interface ServerRequest {
  readonly member: Member;
  readonly id: JsonRpcId;
}

export class FederatedBackend implements Backend {
  readonly started = Promise.resolve();
  readonly members: Member[];
  logLevel?: string;
  private initializeParams: Message = {};
  private protocolVersion: string = PROTOCOL_VERSIONS[0];
  /** Client requests relayed to a server, by the client's id (cancellation finds them here). */
  private readonly relayed = new Map<JsonRpcId, { member: Member; id: JsonRpcId }>();
  /** Client requests still being routed (a list to fetch first), and those cancelled meanwhile. */
  private readonly routing = new Set<JsonRpcId>();
  private readonly cancelledEarly = new Set<JsonRpcId>();
  private readonly serverRequests = new Map<JsonRpcId, ServerRequest>();
  /** The client-side id of each server→client request, by member index and the server's id. */
  private readonly serverRequestIds = new Map<string, JsonRpcId>();
  /** Progress tokens of server→client requests, as the client sees them. */
  private readonly serverTokens = new Map<string, { member: Member; token: string | number }>();
  private nextClientSideId = 1;
  private readonly changed = new Set<string>();
  private changedTimer?: NodeJS.Timeout;
  private readonly closing = new AbortController();
  private stopped = false;
  private readonly matchers = new WeakMap<unknown[], Array<((uri: string) => boolean) | undefined>>();
  private readonly names = new WeakMap<unknown[], Set<string>>();

  constructor(
    private readonly route: FederationRoute,
    private readonly session: ClientSession,
    private readonly events: BackendEvents,
    private readonly logger: Logger,
  ) {
    const host: MemberHost = {
      runtime: route.runtime,
      routeId: route.routeId,
      sessionId: session.id,
      consumer: session.consumer,
      transport: session.transport,
      maxMessageBytes: route.conf.max_message_bytes,
      retryMs: route.conf.retry_interval * 1000,
      logger,
      closing: this.closing.signal,
      initializeParams: () => ({
        protocolVersion: this.protocolVersion,
        capabilities: this.initializeParams.capabilities ?? {},
        clientInfo: this.initializeParams.clientInfo ?? { name: 'tollgate-federation', version: '1.0.0' },
      }),
      message: (member, text, relatedTo) => this.fromServer(member, text, relatedTo),
      ended: (member, end) => this.memberEnded(member, end),
      logLevel: () => this.logLevel,
    };
    this.members = route.specs.map((spec) => new Member(spec, host));
  }

  // ---- the Backend contract -------------------------------------------------------------

  get backlog(): number {
    let most = 0;
    for (const member of this.members) most = Math.max(most, member.backlog);
    return most;
  }

  pause(): void {
    for (const member of this.members) member.pause();
  }

  resume(): void {
    for (const member of this.members) member.resume();
  }

  describe(): BackendInfo {
    return { kind: 'federation', servers: this.members.map((m) => m.describe()) };
  }

  /** Whether this session has a live session of `serverId` (the Admin API lists it there). */
  holds(serverId: string): boolean {
    return this.members.some((m) => m.serverId === serverId && (m.state === 'ready' || m.state === 'opening'));
  }

  /** What the Admin API shows of this session's session of `serverId`. */
  memberInfo(serverId: string): BackendInfo | null {
    return this.members.find((m) => m.serverId === serverId)?.describe().backend ?? null;
  }

  async stop(reason = 'the client ended the session'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.changedTimer);
    this.closing.abort(new Error(reason));
    await Promise.allSettled(this.members.map((m) => m.close(reason)));
    this.events.ended({ reason, status: 502, requested: true });
  }

  // ---- client → gateway -----------------------------------------------------------------

  send(text: string): void {
    if (this.stopped) return;
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    const { id, method } = message;
    const hasId = typeof id === 'string' || typeof id === 'number';
    if (typeof method === 'string') {
      if (hasId) void this.request(message, id, method);
      else this.notification(message, method);
    } else if (hasId) {
      this.clientAnswered(message, id);
    }
  }

  private async request(message: Message, id: JsonRpcId, method: string): Promise<void> {
    const params = (message.params ?? {}) as Message;
    this.routing.add(id);
    try {
      switch (method) {
        case 'initialize':
          return this.initialize(id, params);
        case 'ping':
          return this.reply(id, {});
        case 'tools/list':
        case 'prompts/list':
        case 'resources/list':
        case 'resources/templates/list':
          return await this.list(id, method, params);
        case 'tools/call':
          return await this.callByName(message, id, 'tools/list', params.name, 'tool');
        case 'prompts/get':
          return await this.callByName(message, id, 'prompts/list', params.name, 'prompt');
        case 'resources/read':
        case 'resources/subscribe':
        case 'resources/unsubscribe':
          return await this.callByUri(message, id, params.uri);
        case 'completion/complete':
          return await this.complete(message, id, params);
        case 'logging/setLevel':
          return this.setLevel(id, params);
        default:
          return this.error(id, METHOD_NOT_FOUND, `Method not found: ${method}`);
      }
    } catch (err) {
      this.failed(id, err);
    } finally {
      this.routing.delete(id);
      this.cancelledEarly.delete(id);
    }
  }

  private initialize(id: JsonRpcId, params: Message): void {
    this.initializeParams = params;
    const requested = params.protocolVersion;
    this.protocolVersion = typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.has(requested) ? requested : PROTOCOL_VERSIONS[0];
    const { server_info, instructions } = this.route.conf;
    this.reply(id, {
      protocolVersion: this.protocolVersion,
      capabilities: this.capabilities(),
      serverInfo: server_info,
      ...(instructions === undefined ? {} : { instructions }),
    });
  }

  /** The union of what the servers offer, as far as a federation serves it (no tasks, no experimental). */
  private capabilities(): Message {
    const out: Message = {};
    for (const member of this.members) {
      const caps = member.state === 'ready' ? member.capabilities : (member.spec.server.capabilities ?? ASSUMED_CAPABILITIES);
      // The federation itself tells clients when a merged list changes.
      if (caps.tools !== undefined) out.tools = { listChanged: true };
      if (caps.prompts !== undefined) out.prompts = { listChanged: true };
      if (caps.resources !== undefined) {
        const subscribe = (out.resources as { subscribe?: boolean } | undefined)?.subscribe === true || (caps.resources as { subscribe?: unknown }).subscribe === true;
        out.resources = { ...(subscribe ? { subscribe: true } : {}), listChanged: true };
      }
      if (caps.logging !== undefined) out.logging = {};
      if (caps.completions !== undefined) out.completions = {};
    }
    return out;
  }

  /** A merged list, one page of it. */
  private async list(id: JsonRpcId, method: string, params: Message): Promise<void> {
    const offset = decodeCursor(params.cursor);
    if (offset === undefined) return this.error(id, INVALID_PARAMS, 'Invalid cursor');
    const shape = LISTS[method];
    const lists = await this.listsOf(method);
    const merged: unknown[] = [];
    const seen = new Set<string>();
    for (const [index, items] of lists.entries()) {
      const { head } = this.members[index].spec;
      for (const item of items ?? []) {
        if (typeof item !== 'object' || item === null) continue;
        const key = (item as Message)[shape.key];
        if (typeof key !== 'string') continue;
        const exposed = shape.prefixed ? head + key : key;
        if (shape.field === 'tools' && !isValidToolName(exposed)) continue;
        if (seen.has(exposed)) continue;
        seen.add(exposed);
        merged.push(shape.prefixed ? { ...(item as Message), name: exposed } : item);
      }
    }
    const end = offset + this.route.conf.page_size;
    const result: Message = { [shape.field]: merged.slice(offset, end) };
    if (end < merged.length) result.nextCursor = encodeCursor(end);
    this.reply(id, result);
  }

  /** Every server's whole list (undefined for one that could not give it within list_timeout). */
  private listsOf(method: string): Promise<Array<unknown[] | undefined>> {
    const timeoutMs = this.route.conf.list_timeout * 1000;
    return Promise.all(this.members.map((member) => this.withTimeout(member.list(method, timeoutMs), timeoutMs, member, method)));
  }

  private withTimeout(listing: Promise<unknown[]>, timeoutMs: number, member: Member, method: string): Promise<unknown[] | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        this.logger.warn({ mcp_server: member.serverId, method, seconds: timeoutMs / 1000 }, 'federated mcp server did not list in time; left out of this answer');
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
    });
    const listed = listing.then(
      (items) => items,
      () => undefined,
    );
    return Promise.race([listed, late]).finally(() => clearTimeout(timer));
  }

  /** tools/call or prompts/get: to the server whose prefix the name has, if it lists the name. */
  private async callByName(message: Message, id: JsonRpcId, listMethod: string, name: unknown, what: 'tool' | 'prompt'): Promise<void> {
    const member = typeof name === 'string' ? this.ownerOf(name) : undefined;
    if (!member || (what === 'tool' && !isValidToolName(name as string))) return this.unknownName(id, what, name);
    const original = (name as string).slice(member.spec.head.length);
    const items = await member.list(listMethod, this.route.conf.list_timeout * 1000);
    if (!this.namesOf(items).has(original)) return this.unknownName(id, what, name);
    const params = message.params as Message;
    return this.relay(member, message, id, { ...params, name: original });
  }

  /** The names of a cached list, built once per list (a call looks one up). */
  private namesOf(items: unknown[]): ReadonlySet<string> {
    let names = this.names.get(items);
    if (!names) {
      names = new Set();
      for (const item of items) {
        const name = (item as Message | null)?.name;
        if (typeof name === 'string') names.add(name);
      }
      this.names.set(items, names);
    }
    return names;
  }

  private ownerOf(name: string): Member | undefined {
    return this.members.find((m) => name.startsWith(m.spec.head));
  }

  private unknownName(id: JsonRpcId, what: 'tool' | 'prompt', name: unknown): void {
    this.error(id, INVALID_PARAMS, `Unknown ${what}: ${typeof name === 'string' ? name : String(name)}`);
  }

  /** resources/read, subscribe, unsubscribe: to the server the URI belongs to. */
  private async callByUri(message: Message, id: JsonRpcId, uri: unknown): Promise<void> {
    const member = typeof uri === 'string' ? await this.resourceOwner(uri) : undefined;
    if (!member) return this.error(id, RESOURCE_NOT_FOUND, 'Resource not found', { uri });
    return this.relay(member, message, id, message.params as Message);
  }

  /** The first server that lists `uri`, else the first with a template matching it. */
  private async resourceOwner(uri: string): Promise<Member | undefined> {
    const [resources, templates] = await Promise.all([this.listsOf('resources/list'), this.listsOf('resources/templates/list')]);
    for (const [index, items] of resources.entries()) {
      if (items?.some((item) => (item as Message | null)?.uri === uri)) return this.members[index];
    }
    for (const [index, items] of templates.entries()) {
      if (!items) continue;
      let matchers = this.matchers.get(items);
      if (!matchers) {
        matchers = items.map((item) => {
          const template = (item as Message | null)?.uriTemplate;
          return typeof template === 'string' ? templateMatcher(template, this.route.maxRegexProgram) : undefined;
        });
        this.matchers.set(items, matchers);
      }
      if (matchers.some((matches) => matches?.(uri))) return this.members[index];
    }
    return undefined;
  }

  /** completion/complete: to the server of the prompt (unprefixed) or the resource template it names. */
  private async complete(message: Message, id: JsonRpcId, params: Message): Promise<void> {
    const ref = (params.ref ?? {}) as Message;
    if (ref.type === 'ref/prompt' && typeof ref.name === 'string') {
      const member = this.ownerOf(ref.name);
      if (!member) return this.unknownName(id, 'prompt', ref.name);
      return this.relay(member, message, id, { ...params, ref: { ...ref, name: ref.name.slice(member.spec.head.length) } });
    }
    if (ref.type === 'ref/resource' && typeof ref.uri === 'string') {
      const templates = await this.listsOf('resources/templates/list');
      const index = templates.findIndex((items) => items?.some((item) => (item as Message | null)?.uriTemplate === ref.uri));
      const member = index >= 0 ? this.members[index] : await this.resourceOwner(ref.uri);
      if (!member) return this.error(id, RESOURCE_NOT_FOUND, 'Resource not found', { uri: ref.uri });
      return this.relay(member, message, id, params);
    }
    return this.error(id, INVALID_PARAMS, 'completion/complete needs a ref/prompt or ref/resource');
  }

  /** logging/setLevel: every server that logs gets it (and those opened later). */
  private setLevel(id: JsonRpcId, params: Message): void {
    if (typeof params.level === 'string') this.logLevel = params.level;
    for (const member of this.members) {
      if (member.state === 'ready' && member.capabilities.logging !== undefined) member.notifyRequest('logging/setLevel', params);
    }
    this.reply(id, {});
  }

  /**
   * Sends a client request to `member` under an id of the gateway's (and a progress token of the
   * gateway's), remembering how to map the answer and its progress back.
   */
  private relay(member: Member, message: Message, clientId: JsonRpcId, params: Message): Promise<void> {
    return member.ready().then(() => {
      if (this.cancelledEarly.has(clientId) || this.stopped) return;
      const id = member.takeId();
      const meta = params._meta as Message | undefined;
      const token = meta?.progressToken;
      let progress: Relay['progress'];
      let sentParams = params;
      if (typeof token === 'string' || typeof token === 'number') {
        progress = { client: token, server: `tollgate-progress-${id}` };
        sentParams = { ...params, _meta: { ...meta, progressToken: progress.server } };
        member.progress.set(progress.server, { clientId, progress });
      }
      member.relays.set(id, { clientId, progress });
      this.relayed.set(clientId, { member, id });
      member.send({ ...message, id, params: sentParams });
    });
  }

  private clientAnswered(message: Message, id: JsonRpcId): void {
    const asked = this.serverRequests.get(id);
    if (!asked) return;
    this.serverRequests.delete(id);
    this.serverRequestIds.delete(`${asked.member.spec.index}:${JSON.stringify(asked.id)}`);
    asked.member.send({ ...message, id: asked.id });
  }

  private notification(message: Message, method: string): void {
    const params = (message.params ?? {}) as Message;
    switch (method) {
      case 'notifications/cancelled': {
        const requestId = params.requestId as JsonRpcId;
        const relayed = this.relayed.get(requestId);
        if (relayed) {
          this.relayed.delete(requestId);
          this.forgetRelay(relayed.member, relayed.id);
          relayed.member.send({ ...message, params: { ...params, requestId: relayed.id } });
        } else if (this.routing.has(requestId)) {
          this.cancelledEarly.add(requestId);
        }
        return;
      }
      case 'notifications/progress': {
        const token = params.progressToken;
        const owner = typeof token === 'string' ? this.serverTokens.get(token) : undefined;
        if (owner) owner.member.send({ ...message, params: { ...params, progressToken: owner.token } });
        return;
      }
      case 'notifications/roots/list_changed':
        for (const member of this.members) if (member.state === 'ready') member.send(message);
        return;
      default:
        // notifications/initialized is the client's to the gateway: each server got its own.
        return;
    }
  }

  // ---- servers → client -----------------------------------------------------------------

  private fromServer(member: Member, text: string, relatedTo: JsonRpcId | undefined): void {
    if (this.stopped) return;
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      this.logger.debug({ mcp_server: member.serverId }, 'federated mcp server sent a message that is not JSON; dropped');
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return;
    const { id, method } = message;
    const hasId = typeof id === 'string' || typeof id === 'number';
    if (typeof method === 'string') {
      if (hasId) return this.serverRequest(member, message, id, method, relatedTo);
      return this.serverNotification(member, message, method, relatedTo);
    }
    if (!hasId || member.answered(message)) return;
    const relay = member.relays.get(id);
    if (!relay) return;
    this.forgetRelay(member, id);
    this.relayed.delete(relay.clientId);
    this.emit({ ...message, id: relay.clientId, ...namedFailure(message, member) });
  }

  private forgetRelay(member: Member, id: JsonRpcId): void {
    const relay = member.relays.get(id);
    member.relays.delete(id);
    if (relay?.progress) member.progress.delete(relay.progress.server);
  }

  /** Which client request a server's message belongs with: the one it names, else its only one in flight. */
  private relatedOf(member: Member, relatedTo: JsonRpcId | undefined): JsonRpcId | undefined {
    if (relatedTo !== undefined) return member.relays.get(relatedTo)?.clientId;
    if (member.relays.size === 1) return member.relays.values().next().value!.clientId;
    return undefined;
  }

  private serverRequest(member: Member, message: Message, id: JsonRpcId, method: string, relatedTo: JsonRpcId | undefined): void {
    if (method === 'ping') return member.send({ jsonrpc: '2.0', id, result: {} });
    const clientSideId = `tollgate-${this.nextClientSideId++}`;
    this.serverRequests.set(clientSideId, { member, id });
    this.serverRequestIds.set(`${member.spec.index}:${JSON.stringify(id)}`, clientSideId);
    let params = message.params as Message | undefined;
    const meta = params?._meta as Message | undefined;
    const token = meta?.progressToken;
    if (typeof token === 'string' || typeof token === 'number') {
      const clientToken = `tollgate-progress-${clientSideId}`;
      this.serverTokens.set(clientToken, { member, token });
      params = { ...params, _meta: { ...meta, progressToken: clientToken } };
    }
    this.emit({ ...message, id: clientSideId, ...(params ? { params } : {}) }, this.relatedOf(member, relatedTo));
  }

  private serverNotification(member: Member, message: Message, method: string, relatedTo: JsonRpcId | undefined): void {
    const params = (message.params ?? {}) as Message;
    const stale = STALE_LISTS[method];
    if (stale) {
      member.stale(stale);
      return this.listChanged(method);
    }
    if (method === 'notifications/progress') {
      const token = params.progressToken;
      const relay = typeof token === 'string' ? member.progress.get(token) : undefined;
      if (!relay?.progress) return;
      return this.emit({ ...message, params: { ...params, progressToken: relay.progress.client } }, relay.clientId);
    }
    if (method === 'notifications/cancelled') {
      // The server gave up a request of its own to the client.
      const clientSideId = this.serverRequestIds.get(`${member.spec.index}:${JSON.stringify(params.requestId)}`);
      if (clientSideId === undefined) return;
      this.serverRequests.delete(clientSideId);
      this.serverRequestIds.delete(`${member.spec.index}:${JSON.stringify(params.requestId)}`);
      return this.emit({ ...message, params: { ...params, requestId: clientSideId } });
    }
    // Logging, resource updates and the rest pass as they are.
    this.emit(message, this.relatedOf(member, relatedTo));
  }

  /** Several servers' changes within a short window reach the client as one list_changed per kind. */
  private listChanged(method: string): void {
    this.changed.add(method);
    if (this.changedTimer) return;
    this.changedTimer = setTimeout(() => {
      this.changedTimer = undefined;
      for (const changed of this.changed) this.emit({ jsonrpc: '2.0', method: changed });
      this.changed.clear();
    }, LIST_CHANGED_WINDOW_MS);
    this.changedTimer.unref();
  }

  /** A server's session ended: its requests in flight get an error; if it failed, its items leave the lists. */
  private memberEnded(member: Member, end: BackendEnd): void {
    if (this.stopped) return;
    const why = `MCP server ${member.serverId} ended: ${end.failure?.message ?? end.reason}`;
    for (const [id, relay] of [...member.relays]) {
      this.forgetRelay(member, id);
      this.relayed.delete(relay.clientId);
      this.emit({ jsonrpc: '2.0', id: relay.clientId, error: { code: CONNECTION_CLOSED, message: why, data: { server: member.serverId } } });
    }
    for (const [clientSideId, asked] of [...this.serverRequests]) {
      if (asked.member !== member) continue;
      this.serverRequests.delete(clientSideId);
      this.serverRequestIds.delete(`${member.spec.index}:${JSON.stringify(asked.id)}`);
    }
    for (const [token, owner] of [...this.serverTokens]) if (owner.member === member) this.serverTokens.delete(token);
    if (end.requested) return;
    this.logger.warn({ mcp_server: member.serverId, reason: end.reason, error: end.failure?.message }, 'federated mcp server session ended; its items leave the lists');
    for (const method of ['notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/resources/list_changed']) this.listChanged(method);
  }

  // ---- answers --------------------------------------------------------------------------

  private emit(message: Message, relatedTo?: JsonRpcId): void {
    if (this.stopped) return;
    this.events.message(JSON.stringify(message), relatedTo);
  }

  private reply(id: JsonRpcId, result: Message): void {
    this.emit({ jsonrpc: '2.0', id, result });
  }

  private error(id: JsonRpcId, code: number, message: string, data?: unknown): void {
    this.emit({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
  }

  /** A request that could not be routed or relayed (a server that cannot be reached): its error, with the server's name. */
  private failed(id: JsonRpcId, err: unknown): void {
    const body = (err as { body?: { error?: { code?: number; message?: string; data?: unknown } } }).body?.error;
    if (body?.code !== undefined && body.message !== undefined) return this.error(id, body.code, body.message, body.data);
    this.logger.error({ err }, 'federation could not route a request');
    this.error(id, CONNECTION_CLOSED, (err as Error).message ?? 'the request could not be routed');
  }
}

/**
 * A failure the gateway's own backend reported for a relayed request (a remote server that could
 * not be reached, timed out, answered garbage: `data.reason`, failure.ts) names the server, so a
 * federation's client knows which of its servers failed. The servers' own errors pass as they are.
 */
function namedFailure(message: Message, member: Member): Message | undefined {
  const error = message.error as { message?: unknown; data?: { reason?: unknown } } | undefined;
  if (typeof error?.data?.reason !== 'string' || typeof error.message !== 'string') return undefined;
  return { error: { ...error, message: `MCP server ${member.serverId}: ${error.message}`, data: { ...error.data, server: member.serverId } } };
}
