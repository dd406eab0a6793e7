/**
 * The route table's index, built once per catalog change and swapped atomically. Lookup order
 * follows APISIX's radixtree_host_uri router:
 *   1. routes whose hosts match (exact host, then wildcards, most specific first), then host-less routes;
 *   2. within those, an exact uri first, then prefixes from longest to shortest
 *      (`/a/*`, `/a*`, and `:param` templates are indexed by their static prefix);
 *   3. within one uri, higher `priority` first, then the longer template;
 *   4. the first candidate whose methods, remote_addrs, template tail and `vars` match wins
 *      (radixtree's match_route_opts; a candidate whose vars fail is passed over like one whose
 *      method differs, and the next one in this order is tried).
 * A lookup is a few Map gets and never walks the whole table, so 10,000 routes cost what 1 does;
 * a `vars` rule is evaluated only for the candidates the lookup reaches.
 */
import type { BlockList } from 'node:net';
import { addressIn, buildBlockList } from '../core/client-ip.js';
import type { Expression } from '../core/expr.js';
import { isPrototypeKey } from '../core/own.js';
import type { BodyNeeds, RequestVariables } from '../core/request.js';

export interface MatcherEntry<T> {
  value: T;
  uris: readonly string[];
  hosts?: readonly string[];
  methods?: readonly string[];
  remoteAddrs?: readonly string[];
  priority: number;
  /** The route's compiled `vars`: it matches only when they hold. */
  vars?: Expression;
  /** What `vars` reads from the request body (undefined: nothing). */
  bodyNeeds?: BodyNeeds;
}

export interface Match<T> {
  value: T;
  params: Record<string, string>;
  /**
   * Set when the lookup reached `value`, whose `vars` read the request body, before the body was
   * read: read it (bounded by that route's limits), then match again. No later candidate has
   * been tried, so the order above holds.
   */
  needsBody?: BodyNeeds;
  /** The entry's uri pattern that matched. */
  uri: string;
  /** The entry's host pattern that matched; undefined for an entry without hosts. */
  host?: string;
}

/** For lookups without a request (tests, benchmarks): every variable is missing. */
export const NO_VARIABLES: RequestVariables = { var: () => undefined, hasBodyFor: () => true };

/** Matches what follows the static prefix; returns captured params, or undefined for no match. */
type TailMatcher = (rest: string) => Record<string, string> | undefined;

interface Candidate<T> {
  value: T;
  uri: string;
  host?: string;
  priority: number;
  templateLength: number;
  order: number;
  methods?: ReadonlySet<string>;
  remote?: BlockList;
  tail?: TailMatcher;
  vars?: Expression;
  bodyNeeds?: BodyNeeds;
}

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

class UriIndex<T> {
  readonly exact = new Map<string, Candidate<T>[]>();
  readonly prefix = new Map<string, Candidate<T>[]>();
  prefixLengths: number[] = [];

  add(compiled: CompiledTemplate, candidate: Omit<Candidate<T>, 'tail'>): void {
    const bucket = compiled.tail === undefined && !compiled.isPrefix ? this.exact : this.prefix;
    const list = bucket.get(compiled.staticPart) ?? [];
    list.push({ ...candidate, tail: compiled.tail });
    bucket.set(compiled.staticPart, list);
  }

  seal(): void {
    const byPrecedence = (a: Candidate<T>, b: Candidate<T>) =>
      b.priority - a.priority || b.templateLength - a.templateLength || a.order - b.order;
    for (const list of this.exact.values()) list.sort(byPrecedence);
    for (const list of this.prefix.values()) list.sort(byPrecedence);
    this.prefixLengths = [...new Set([...this.prefix.keys()].map((k) => k.length))].sort((a, b) => b - a);
  }

  find(method: string, path: string, clientIp: string, vars: RequestVariables): Match<T> | undefined {
    const exact = this.exact.get(path);
    if (exact) {
      const hit = pick(exact, method, path, 0, clientIp, vars);
      if (hit) return hit;
    }
    for (const length of this.prefixLengths) {
      if (length > path.length) continue;
      const list = this.prefix.get(length === path.length ? path : path.slice(0, length));
      if (!list) continue;
      const hit = pick(list, method, path, length, clientIp, vars);
      if (hit) return hit;
    }
    return undefined;
  }
}

function pick<T>(list: Candidate<T>[], method: string, path: string, restAt: number, clientIp: string, vars: RequestVariables): Match<T> | undefined {
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c.methods && !c.methods.has(method)) continue;
    if (c.remote && !addressIn(c.remote, clientIp)) continue;
    let params = NO_PARAMS;
    if (c.tail) {
      const captured = c.tail(path.slice(restAt));
      if (!captured) continue;
      params = captured;
    }
    // Last: the checks above cost nothing and spare reading a body for a candidate they refuse.
    if (c.vars) {
      if (c.bodyNeeds && !vars.hasBodyFor(c.bodyNeeds)) return { value: c.value, params, needsBody: c.bodyNeeds, uri: c.uri, host: c.host };
      if (!c.vars.test(vars)) continue;
    }
    return { value: c.value, params, uri: c.uri, host: c.host };
  }
  return undefined;
}

export class RouteMatcher<T> {
  private readonly byHost = new Map<string, UriIndex<T>>();
  /** `*.example.com` is stored under `.example.com`. */
  private readonly byWildcard = new Map<string, UriIndex<T>>();
  private readonly anyHost = new UriIndex<T>();
  readonly size: number;

  /**
   * An entry whose uri or addresses do not compile is left out and reported to `onInvalid`: one
   * bad entry never keeps the others from being served (the Admin API refuses such entries, but a
   * store can hold records no write checked).
   */
  constructor(entries: Iterable<MatcherEntry<T>>, onInvalid?: (value: T, err: Error) => void) {
    let order = 0;
    let size = 0;
    for (const entry of entries) {
      let prepared: Prepared;
      try {
        prepared = prepare(entry);
      } catch (err) {
        onInvalid?.(entry.value, err as Error);
        continue;
      }
      size += 1;
      const indexes: Array<[UriIndex<T>, string | undefined]> = prepared.hosts ? prepared.hosts.map((h) => [this.indexFor(h), h]) : [[this.anyHost, undefined]];
      for (const [index, host] of indexes) {
        for (const { uri, compiled } of prepared.templates) {
          index.add(compiled, {
            value: entry.value,
            uri,
            host,
            priority: entry.priority,
            methods: prepared.methods,
            remote: prepared.remote,
            vars: entry.vars,
            bodyNeeds: entry.bodyNeeds,
            templateLength: uri.length,
            order: order++,
          });
        }
      }
    }
    this.size = size;
    for (const index of [...this.byHost.values(), ...this.byWildcard.values(), this.anyHost]) index.seal();
  }

  /** The route for a request; `vars` supplies what routes' `vars` rules read. */
  match(method: string, host: string, path: string, clientIp: string, vars: RequestVariables = NO_VARIABLES): Match<T> | undefined {
    if (host && (this.byHost.size > 0 || this.byWildcard.size > 0)) {
      const exact = this.byHost.get(host)?.find(method, path, clientIp, vars);
      if (exact) return exact;
      if (this.byWildcard.size > 0) {
        for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
          const hit = this.byWildcard.get(host.slice(dot))?.find(method, path, clientIp, vars);
          if (hit) return hit;
        }
      }
    }
    return this.anyHost.find(method, path, clientIp, vars);
  }

  private indexFor(host: string): UriIndex<T> {
    const wildcard = host.startsWith('*');
    const key = wildcard ? host.slice(1) : host;
    const map = wildcard ? this.byWildcard : this.byHost;
    let index = map.get(key);
    if (!index) {
      index = new UriIndex<T>();
      map.set(key, index);
    }
    return index;
  }
}

/** What an entry compiles to, computed once per entry object (a route version), not per rebuild. */
interface Prepared {
  templates: Array<{ uri: string; compiled: CompiledTemplate }>;
  hosts?: string[];
  methods?: ReadonlySet<string>;
  remote?: BlockList;
}

const PREPARED = new WeakMap<object, Prepared>();

function prepare(entry: MatcherEntry<unknown>): Prepared {
  let prepared = PREPARED.get(entry);
  if (!prepared) {
    prepared = {
      templates: entry.uris.map((uri) => ({ uri, compiled: compileTemplate(uri) })),
      // As requests' hosts are compared: lower-cased, without a trailing dot.
      hosts: entry.hosts && entry.hosts.length > 0 ? entry.hosts.map((h) => h.toLowerCase().replace(/\.$/, '')) : undefined,
      methods: entry.methods && entry.methods.length > 0 ? new Set(entry.methods) : undefined,
      remote: entry.remoteAddrs && entry.remoteAddrs.length > 0 ? buildBlockList(entry.remoteAddrs) : undefined,
    };
    PREPARED.set(entry, prepared);
  }
  return prepared;
}

export class UriTemplateError extends Error {}

interface CompiledTemplate {
  staticPart: string;
  isPrefix: boolean;
  tail?: TailMatcher;
}

/**
 * `/a/b` exact; `/a/*` and `/a*` prefixes (a trailing `*name` captures the rest);
 * `/user/:id/posts` parameters (`:name` at the start of a segment matches one non-empty segment).
 */
export function compileTemplate(template: string): CompiledTemplate {
  const star = template.indexOf('*');
  if (star >= 0 && !/^\*[A-Za-z0-9_]*$/.test(template.slice(star))) {
    throw new UriTemplateError(`uri "${template}": "*" is only allowed at the end`);
  }
  const body = star >= 0 ? template.slice(0, star) : template;
  const restName = star >= 0 ? template.slice(star + 1) || undefined : undefined;
  // Parameter names become keys of `ctx.gateway.params`; `__proto__` there would be lost or worse.
  const reserved = [restName, ...body.split('/').filter((p) => p.startsWith(':')).map((p) => p.slice(1))].find((n) => n !== undefined && isPrototypeKey(n));
  if (reserved !== undefined) throw new UriTemplateError(`uri "${template}": parameter name "${reserved}" is reserved`);
  const firstParam = body.search(/\/:/);
  if (firstParam < 0) {
    if (star < 0) return { staticPart: body, isPrefix: false };
    return {
      staticPart: body,
      isPrefix: true,
      tail: restName ? (rest) => ({ [restName]: rest }) : undefined,
    };
  }
  const staticPart = body.slice(0, firstParam + 1);
  const pieces = body.slice(firstParam + 1).split('/');
  for (const piece of pieces) {
    if (piece.startsWith(':') && !/^:[A-Za-z0-9_]+$/.test(piece)) throw new UriTemplateError(`uri "${template}": bad parameter "${piece}"`);
  }
  const trailingStar = star >= 0;
  const tail: TailMatcher = (rest) => {
    const params: Record<string, string> = {};
    let pos = 0;
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      const last = i === pieces.length - 1;
      let end = rest.indexOf('/', pos);
      if (end < 0) end = rest.length;
      if (last && trailingStar) {
        // The last piece is followed directly by `*`: `/a/:id/*` has an empty last piece.
        if (piece === '') {
          if (rest.length < pos) return undefined;
          if (restName) params[restName] = rest.slice(pos);
          return params;
        }
      }
      const segment = rest.slice(pos, end);
      if (piece.startsWith(':')) {
        if (!segment) return undefined;
        params[piece.slice(1)] = segment;
      } else if (segment !== piece) {
        return undefined;
      }
      if (last) {
        if (trailingStar) {
          if (restName) params[restName] = rest.slice(end);
          return params;
        }
        return end === rest.length ? params : undefined;
      }
      if (end === rest.length) return undefined;
      pos = end + 1;
    }
    return params;
  };
  return { staticPart, isPrefix: true, tail };
}
