/**
 * Where credentials travel in a request — headers, query parameters, cookies — so that the log
 * sinks can leave them out. Each plugin that reads a credential says where, for its config
 * (`Plugin.credentials(conf)`; auth plugins must), and every chain gathers what its plugins
 * declare. The names are then right wherever a plugin is configured — a route, a service, a
 * plugin_config, a global rule, a consumer — and for custom plugins too: redaction used to name
 * key-auth and jwt-auth and read the route's own record only, so a key-auth header set on a
 * service reached file and HTTP logs in clear text (issue 10, item 8).
 */
import type { Plugin } from './plugin.js';

/** What `Plugin.credentials(conf)` returns: names as the request carries them. */
export interface CredentialSources {
  readonly headers?: readonly string[];
  readonly query?: readonly string[];
  readonly cookies?: readonly string[];
}

/** Header (lower case), query parameter and cookie names whose values never reach a log entry. */
export interface CredentialNames {
  readonly headers: ReadonlySet<string>;
  readonly params: ReadonlySet<string>;
  readonly cookies: ReadonlySet<string>;
}

/** Redacted whatever the plugins declare: where credentials usually are. */
export const STANDARD_CREDENTIALS: CredentialNames = Object.freeze({
  headers: new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'apikey', 'x-api-key']),
  params: new Set(['apikey', 'api_key', 'jwt', 'token', 'access_token']),
  cookies: new Set(['jwt']),
});

/**
 * What `plugin` declares for `conf`, checked: a plugin whose `credentials` throws or answers
 * something else than arrays of names makes its route fail to compile (fail closed: a route
 * that cannot say where its secrets are does not run and log them).
 */
export function declaredCredentials(plugin: Plugin, conf: unknown): CredentialSources | undefined {
  if (!plugin.credentials) return undefined;
  const declared = plugin.credentials(conf);
  const isNames = (value: unknown) => value === undefined || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
  if (typeof declared !== 'object' || declared === null || !isNames(declared.headers) || !isNames(declared.query) || !isNames(declared.cookies)) {
    throw new Error(`plugin ${plugin.name}: credentials(conf) must return { headers?, query?, cookies? } arrays of names`);
  }
  return declared;
}

/** The standard names plus every declared one; the standard set itself when nothing is declared. */
export function credentialNamesOf(declared: Iterable<CredentialSources | undefined>): CredentialNames {
  let names: { headers: Set<string>; params: Set<string>; cookies: Set<string> } | undefined;
  for (const sources of declared) {
    if (!sources) continue;
    names ??= { headers: new Set(STANDARD_CREDENTIALS.headers), params: new Set(STANDARD_CREDENTIALS.params), cookies: new Set(STANDARD_CREDENTIALS.cookies) };
    for (const header of sources.headers ?? []) names.headers.add(header.toLowerCase());
    for (const param of sources.query ?? []) names.params.add(param);
    for (const cookie of sources.cookies ?? []) names.cookies.add(cookie);
  }
  return names ?? STANDARD_CREDENTIALS;
}

/** Unions of a global chain's names with a route chain's, kept while both chains live. */
const unions = new WeakMap<CredentialNames, { other: CredentialNames; union: CredentialNames }>();

/** The names of two chains that ran for one request (global rules and route). */
export function unionOfCredentialNames(a: CredentialNames, b: CredentialNames): CredentialNames {
  if (a === STANDARD_CREDENTIALS || a === b) return b;
  if (b === STANDARD_CREDENTIALS) return a;
  const cached = unions.get(b);
  if (cached?.other === a) return cached.union;
  const union: CredentialNames = {
    headers: new Set([...a.headers, ...b.headers]),
    params: new Set([...a.params, ...b.params]),
    cookies: new Set([...a.cookies, ...b.cookies]),
  };
  unions.set(b, { other: a, union });
  return union;
}
