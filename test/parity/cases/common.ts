/** Fragments APISIX's tests repeat, written once. */

/** The upstream most t/admin tests use: a node nobody listens on (never proxied to). */
export const UP_8080 = { nodes: { '127.0.0.1:8080': 1 }, type: 'roundrobin' };
/** APISIX's test upstream (t/lib/server.lua), mapped to a real server by the runner. */
export const UP_1980 = { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' };

/** A route on the test upstream, as `t/plugin/*.t` set them up. */
export function route(uri: string, plugins: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { uri, plugins, upstream: UP_1980, ...extra };
}
