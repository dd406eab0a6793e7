/**
 * The per-request state behind `ctx.gateway`. Kept lean: the abort controller, the query and
 * cookie parsers and the scratch map are created only when something asks for them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { splitHostPort } from './address.js';
import { plainAddress } from './client-ip.js';
import { isoTime } from './iso-time.js';
import { statusSent } from './respond.js';
import type { GatewayError } from './errors.js';
import type { AuthInfo, ConsumerInfo, GatewayState, McpRequestInfo, RouteInfo, UpstreamOutcome, UpstreamRequestPlan } from './context.js';
import { STANDARD_CREDENTIALS, unionOfCredentialNames, type CredentialNames } from './credentials.js';
import type { VarSource } from './expr.js';
import type { Chain } from './pipeline.js';
import type { Upstream } from './upstream/upstream.js';

/**
 * What variables need from the request body before they have their values: `post_arg_*` a form
 * body, the `mcp_*` variables the JSON-RPC message described. A route whose `vars` read them
 * has the body read before it is matched (and only then).
 */
export interface BodyNeeds {
  readonly form: boolean;
  readonly jsonRpc: boolean;
}

/** What route matching reads a request's variables through. */
export interface RequestVariables extends VarSource {
  /** False while variables with these needs still wait for the request body to be read. */
  hasBodyFor(needs: BodyNeeds): boolean;
}

const MCP_VARIABLES = new Set(['mcp_method', 'mcp_name', 'mcp_tool', 'mcp_session_id']);

/** What reading `variables` needs from the body, or undefined when nothing. */
export function bodyNeedsOf(variables: readonly string[]): BodyNeeds | undefined {
  const form = variables.some((name) => name.startsWith('post_arg_'));
  const jsonRpc = variables.some((name) => MCP_VARIABLES.has(name));
  return form || jsonRpc ? { form, jsonRpc } : undefined;
}

export class RequestState implements GatewayState, RequestVariables {
  route?: RouteInfo;
  params: Record<string, string> = EMPTY_PARAMS;
  matchedUri?: string;
  matchedHost?: string;
  consumer?: ConsumerInfo;
  authInfo?: AuthInfo;
  mcp?: McpRequestInfo;
  body?: Buffer;
  upstreamOutcome?: UpstreamOutcome;
  answeredBy?: string;
  error?: GatewayError;
  mcpError?: number;
  bytesIn?: number;
  bytesOut?: number;
  readonly upstream: UpstreamPlan;
  /** Runs when the client leaves before its response is complete (the proxy aborts the upstream request). */
  onClientGone?: () => void;
  /** The authority of an absolute-form request target, which the upstream gets as its Host (pass_host: pass). */
  authority?: string;
  /** The connection comes from a trusted proxy (gateway.trusted_proxies): its X-Forwarded-* values are kept. */
  peerTrusted = false;
  /** The client sent `Expect: 100-continue` and has not been told to send its body yet. */
  awaitingContinue = false;
  /**
   * Set once the body has been read into `body` (the upstream then gets that copy), for route
   * `vars` that read it (`post_arg_*`) or for an MCP route.
   */
  bodyRead = false;
  /** Set once `mcp` describes the request (or it is not an MCP message), for route `vars` that read `mcp_*`. */
  mcpDescribed = false;
  /** Set once the response has been handed to the client (or the client left). */
  finished = false;
  /** Installed by the data plane: runs the header filters of this request's chains. */
  headerCommitter?: () => Promise<void>;
  /** Installed by the data plane: the chains this request runs (the route's changes once a consumer is known). */
  chains?: { readonly global: Chain; readonly route: Chain };
  private committed?: Promise<void>;
  private controller?: AbortController;
  private scratchpad?: Map<string, object>;
  private args?: URLSearchParams;
  private cookies?: Map<string, string>;
  private form?: URLSearchParams;

  constructor(
    public requestId: string,
    readonly startTime: number,
    readonly clientIp: string,
    readonly path: string,
    readonly query: string,
    readonly host: string,
    readonly scheme: 'http' | 'https',
    readonly serverPort: number,
    private readonly req: IncomingMessage,
    private readonly res?: ServerResponse,
  ) {
    this.upstream = new UpstreamPlan(query ? `${path}?${query}` : path);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.finished) this.controller.abort(new Error('client went away'));
    }
    return this.controller.signal;
  }

  /** Called by the core when the client disconnects before the response completed. */
  abort(reason: Error): void {
    this.finished = true;
    this.onClientGone?.();
    this.controller?.abort(reason);
  }

  get credentials(): CredentialNames {
    return this.chains ? unionOfCredentialNames(this.chains.global.credentials, this.chains.route.credentials) : STANDARD_CREDENTIALS;
  }

  hasBodyFor(needs: BodyNeeds): boolean {
    // mcp_* waits even for a request without a body: it is still described (its session id).
    if (needs.jsonRpc && !this.mcpDescribed) return false;
    // post_arg_* reads only a form; for anything else it is nil without reading a byte.
    return !(needs.form && !this.bodyRead && this.hasForm());
  }

  /** Whether the request says it sends a urlencoded form (what `post_arg_*` read). */
  hasForm(): boolean {
    const type = this.req.headers['content-type'];
    return type !== undefined && type.toLowerCase().startsWith('application/x-www-form-urlencoded');
  }

  commitHeaders(): Promise<void> {
    this.committed ??= this.headerCommitter ? this.headerCommitter() : Promise.resolve();
    return this.committed;
  }

  var(name: string): string | undefined {
    switch (name) {
      case 'remote_addr':
        return this.clientIp;
      case 'uri':
        return this.path;
      case 'request_uri':
        return this.query ? `${this.path}?${this.query}` : this.path;
      case 'args':
        return this.query;
      case 'is_args':
        return this.query ? '?' : '';
      case 'host':
        return this.host;
      case 'request_method':
        return this.req.method;
      case 'scheme':
        return this.scheme;
      case 'server_port':
        return String(this.serverPort);
      case 'request_id':
        return this.requestId;
      case 'consumer_name':
        return this.consumer?.username;
      case 'consumer_group_id':
        return this.consumer?.groupId;
      case 'remote_port':
        return this.req.socket?.remotePort === undefined ? undefined : String(this.req.socket.remotePort);
      case 'server_addr':
        return this.req.socket?.localAddress === undefined ? undefined : plainAddress(this.req.socket.localAddress);
      case 'route_id':
        return this.route?.id;
      case 'route_name':
        return this.route?.name;
      case 'service_id':
        return this.route?.serviceId;
      case 'mcp_method':
        return this.mcp?.method;
      case 'mcp_name':
        return this.mcp?.name;
      case 'mcp_tool':
        return this.mcp?.method === 'tools/call' ? this.mcp.name : undefined;
      case 'mcp_session_id': {
        // An initialize has no session id yet: the one it opened is in the answer's header.
        const answered = this.res?.getHeader('mcp-session-id');
        return this.mcp?.sessionId ?? (typeof answered === 'string' ? answered : undefined);
      }
      case 'mcp_error':
        return this.mcpError === undefined ? undefined : String(this.mcpError);
    }
    const measured = this.measured(name);
    if (measured !== NOT_MEASURED) return measured;
    if (name.startsWith('http_')) {
      const header = name.slice(5).replaceAll('_', '-').toLowerCase();
      // Own headers only: `http_constructor` must not read Object's function.
      const value = Object.hasOwn(this.req.headers, header) ? this.req.headers[header] : undefined;
      return Array.isArray(value) ? value.join(', ') : value;
    }
    if (name.startsWith('arg_')) {
      this.args ??= new URLSearchParams(this.query);
      return this.args.get(name.slice(4)) ?? undefined;
    }
    if (name.startsWith('cookie_')) {
      this.cookies ??= parseCookies(this.req.headers.cookie);
      return this.cookies.get(name.slice(7));
    }
    if (name.startsWith('post_arg_')) {
      // APISIX reads only a urlencoded form, and only one already read (ngx.req.get_post_args).
      if (this.body === undefined || !this.hasForm()) return undefined;
      this.form ??= new URLSearchParams(this.body.toString('utf8'));
      return this.form.get(name.slice(9)) ?? undefined;
    }
    return undefined;
  }

  /**
   * nginx's variables for what the gateway measured: the response status once it is known (the
   * one about to be sent in a header filter; 499 once the client left unanswered), times and sizes
   * once the response is over, the upstream's address, status and latency once it answered.
   */
  private measured(name: string): string | undefined | typeof NOT_MEASURED {
    switch (name) {
      case 'status': {
        const res = this.res;
        if (!res) return undefined;
        // Until the request is over, the status about to be sent (a header filter reads it).
        return String(this.finished ? statusSent(res) : res.statusCode);
      }
      case 'request_time':
        return String(seconds(performance.now() - this.startTime));
      case 'request_length':
        return this.bytesIn === undefined ? undefined : String(this.bytesIn);
      case 'bytes_sent':
        return this.bytesOut === undefined ? undefined : String(this.bytesOut);
      case 'upstream_addr':
        return this.upstreamOutcome?.addr;
      case 'upstream_unresolved_host':
      case 'balancer_ip':
        return this.upstreamOutcome?.addr === undefined ? undefined : splitHostPort(this.upstreamOutcome.addr).host;
      case 'balancer_port':
        return this.upstreamOutcome?.addr === undefined ? undefined : splitHostPort(this.upstreamOutcome.addr).port;
      case 'upstream_status':
        return this.upstreamOutcome?.status === undefined ? undefined : String(this.upstreamOutcome.status);
      case 'upstream_response_time':
        return this.upstreamOutcome?.latency === undefined ? undefined : String(seconds(this.upstreamOutcome.latency));
      case 'time_iso8601':
        return isoTime();
      case 'msec':
        return String(Date.now() / 1000);
      case 'hostname':
        return HOSTNAME;
    }
    return NOT_MEASURED;
  }

  scratch<T extends object>(plugin: string, init: () => T): T {
    this.scratchpad ??= new Map();
    let value = this.scratchpad.get(plugin) as T | undefined;
    if (!value) {
      value = init();
      this.scratchpad.set(plugin, value);
    }
    return value;
  }
}

/** The upstream request plan; its header-edit map exists only once a plugin asks for it. */
class UpstreamPlan implements UpstreamRequestPlan {
  method?: string;
  host?: string;
  target?: Upstream;
  private edits?: Map<string, string | null>;

  constructor(public uri: string) {}

  get headers(): Map<string, string | null> {
    this.edits ??= new Map();
    return this.edits;
  }

  /** The edits, without creating an empty map when there are none (the proxy's common case). */
  get headerEdits(): ReadonlyMap<string, string | null> | undefined {
    return this.edits;
  }
}

const NOT_MEASURED = Symbol('not measured');

/** Milliseconds as seconds, to the microsecond (nginx gives milliseconds; ours are finer). */
function seconds(ms: number): number {
  return Math.round(ms * 1000) / 1_000_000;
}
const HOSTNAME = hostname();

const EMPTY_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || out.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}
