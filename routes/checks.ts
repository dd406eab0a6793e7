/**
 * What a resource schema cannot say about a record: a route uri no request can ever carry, an
 * address that is not one, an upstream node nobody can connect to (issue 10 item 11). The Admin
 * API refuses such a write with a 400 naming the field. The route table runs the same checks on
 * what it loads (a record from an older version, or written straight into the file or Redis)
 * and leaves a failing record out, logged and listed on /status, instead of failing later.
 */
import type { ResourceKind } from '../core/catalog/types.js';
import { isIPv6 } from 'node:net';
import { addressProblem, hostPortProblem, splitHostPort } from '../core/address.js';
import { compileExpression, ExprError, VARS_ERROR_PREFIX, type Expression } from '../core/expr.js';
import { normalizePath } from '../core/path.js';
import { compileTemplate } from './matcher.js';

/**
 * A stored record's value as the schemas see it: a copy without the server's timestamps, or why
 * it cannot be one (a store written behind the gateway's back can hold any JSON).
 */
export function storedValue(stored: unknown): Record<string, unknown> | string {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return 'the record is not a JSON object';
  const value = structuredClone(stored) as Record<string, unknown>;
  delete value.create_time;
  delete value.update_time;
  return value;
}

/** The first problem of a schema-valid record, as an Admin API error message; undefined if none. */
export function recordProblem(kind: ResourceKind, value: Record<string, unknown>): string | undefined {
  if (kind === 'routes') return routeProblem(value) ?? upstreamProblem(value.upstream, 'upstream.nodes');
  if (kind === 'services') return upstreamProblem(value.upstream, 'upstream.nodes');
  if (kind === 'upstreams') return upstreamProblem(value, 'nodes');
  return undefined;
}

function routeProblem(route: Record<string, unknown>): string | undefined {
  const uris = route.uris as string[] | undefined;
  const named: Array<[string, string]> = uris ? uris.map((uri, i) => [`uris[${i}]`, uri]) : [['uri', route.uri as string]];
  for (const [field, uri] of named) {
    const problem = uriProblem(uri);
    if (problem) return `invalid configuration: ${field} ${problem}`;
  }
  const addrs = route.remote_addrs as string[] | undefined;
  const addresses: Array<[string, string]> = addrs ? addrs.map((a, i) => [`remote_addrs[${i}]`, a]) : route.remote_addr === undefined ? [] : [['remote_addr', route.remote_addr as string]];
  for (const [field, address] of addresses) {
    const problem = addressProblem(address);
    if (problem) return `invalid configuration: ${field} ${problem}`;
  }
  return undefined;
}

/**
 * Why requests can never match `uri` (without the field's name), or undefined. The data plane
 * matches the normalized path (core/path.ts): dot segments resolved, slashes collapsed,
 * unreserved escapes decoded; Node refuses a request target with control characters, spaces or
 * raw non-ASCII bytes; the query is not part of it.
 */
export function uriProblem(uri: string): string | undefined {
  const quoted = JSON.stringify(uri);
  if (!uri.startsWith('/')) return `${quoted} must start with "/"`;
  const control = /[\u0000-\u0020\u007f]/.exec(uri);
  if (control) {
    const code = control[0].charCodeAt(0);
    return `${quoted} can never match: it contains ${code === 0x20 ? 'a space' : `the control character 0x${code.toString(16).padStart(2, '0').toUpperCase()}`}`;
  }
  if (/[^\u0000-\u007f]/.test(uri)) {
    const encoded = uri.replace(/[^\u0000-\u007f]+/g, (s) => encodeURIComponent(s));
    return `${quoted} can never match: clients send non-ASCII characters percent-encoded; write "${encoded}"`;
  }
  if (uri.includes('?')) return `${quoted} can never match: a query string is not part of the path`;
  let normalized: string;
  try {
    normalized = normalizePath(uri);
  } catch {
    return `${quoted} can never match: malformed percent-encoding`;
  }
  if (normalized !== uri) return `${quoted} can never match: requests are matched on their normalized path "${normalized}"`;
  try {
    compileTemplate(uri);
  } catch (err) {
    return (err as Error).message.replace(/^uri /, '');
  }
  return undefined;
}

/**
 * A route's `vars` compiled, keyed by the rule's array: the route table validates a record and
 * compiles the route from the same copy, so a route version compiles its rule once.
 */
const COMPILED_VARS = new WeakMap<object, { maxRegexProgram: number; expression: Expression }>();

/** A route's `vars` rule compiled (`limits.max_regex_program` bounds its patterns); throws ExprError when it cannot be. */
export function compiledVars(vars: unknown[], maxRegexProgram: number): Expression {
  const cached = COMPILED_VARS.get(vars);
  if (cached && cached.maxRegexProgram === maxRegexProgram) return cached.expression;
  const expression = compileExpression(vars, { maxRegexProgram });
  COMPILED_VARS.set(vars, { maxRegexProgram, expression });
  return expression;
}

/** APISIX's message for a schema-valid route whose `vars` do not compile, or undefined. */
export function routeVarsProblem(route: Record<string, unknown>, maxRegexProgram: number): string | undefined {
  if (!Array.isArray(route.vars)) return undefined;
  try {
    compiledVars(route.vars, maxRegexProgram);
    return undefined;
  } catch (err) {
    if (err instanceof ExprError) return VARS_ERROR_PREFIX + err.message;
    throw err;
  }
}

/**
 * Node addresses a connection could be opened to (a port in range, an IP literal that is one,
 * IPv6 in brackets as APISIX requires), and a chash key the balancer can read.
 */
function upstreamProblem(upstream: unknown, field: string): string | undefined {
  if (typeof upstream !== 'object' || upstream === null) return undefined;
  const nodes = (upstream as { nodes?: unknown }).nodes;
  if (nodes !== undefined) {
    let list: Array<{ name: string; host: string; port?: string }>;
    if (Array.isArray(nodes)) {
      list = [];
      for (const n of nodes as Array<{ host: string; port?: number }>) {
        // "::1" as a host reads as an address with a port to anything that splits host:port.
        if (isIPv6(n.host)) return "invalid configuration: IPv6 address must be enclosed with '[' and ']'";
        // A host may carry the port when the node has none (APISIX's optional port).
        list.push(n.port === undefined ? { name: n.host, ...splitHostPort(n.host) } : { name: n.host, host: n.host, port: String(n.port) });
      }
    } else {
      list = Object.keys(nodes as object).map((address) => ({ name: address, ...splitHostPort(address) }));
    }
    for (const node of list) {
      const problem = hostPortProblem(node.host, node.port);
      if (problem) return `invalid configuration: ${field}: node "${node.name}" ${problem}`;
    }
  }
  return chashKeyProblem(upstream as { type?: string; hash_on?: string; key?: string });
}

/** APISIX's upstream_hash_vars_schema (its text is part of the error), and Tollgate's request headers and cookies as variables. */
const HASH_VARIABLE = /^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$/;
const TOLLGATE_HASH_VARIABLE = /^(http|cookie)_[0-9a-zA-Z_-]+$/;
/** APISIX's upstream_hash_header_schema: a header or cookie name. */
const HASH_HEADER = /^[a-zA-Z0-9-_]+$/;

/** As APISIX's check_upstream_conf: chash needs a key (but on the consumer), of the kind hash_on reads. */
function chashKeyProblem(upstream: { type?: string; hash_on?: string; key?: string }): string | undefined {
  if (upstream.type !== 'chash') return undefined;
  const hashOn = upstream.hash_on ?? 'vars';
  if (hashOn === 'consumer') return undefined;
  const key = upstream.key;
  if (key === undefined) return 'missing key';
  const pattern = hashOn === 'vars' ? HASH_VARIABLE : hashOn === 'header' || hashOn === 'cookie' ? HASH_HEADER : undefined;
  if (pattern === undefined || pattern.test(key)) return undefined;
  if (hashOn === 'vars' && TOLLGATE_HASH_VARIABLE.test(key)) return undefined;
  return `invalid configuration: failed to match pattern ${JSON.stringify(pattern.source)} with ${JSON.stringify(key)}`;
}
