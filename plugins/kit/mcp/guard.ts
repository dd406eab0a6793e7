/**
 * DNS-rebinding protection (MCP transports, "Security Warning"; CVE-2025-49596, CVE-2025-66414).
 * A web page an MCP user visits can make their browser send requests to a gateway on localhost
 * under the page's own name. So:
 * - a connection that arrived on a loopback address must name a loopback host (or one of
 *   `allowed_hosts`): a rebound name such as evil.example is refused;
 * - a request that carries an Origin must come from the same origin, a loopback origin on a
 *   loopback connection, or one of `allowed_origins`.
 * Requests without Origin are not from a browser page and pass (authentication is the route's
 * auth plugins' business).
 */
import type { IncomingMessage } from 'node:http';
import { mcpHttpError } from './jsonrpc.js';
import type { SessionConf } from './schema.js';
import { MCP_ERRORS } from './errors.js';

/**
 * `authority` is the one the gateway routed on: an absolute-form request target's, which wins over
 * the Host header (RFC 9112 §3.2.2), so the check sees the name the request was really sent to.
 */
export function guardOrigin(req: IncomingMessage, authority: string | undefined, conf: Pick<SessionConf, 'allowed_hosts' | 'allowed_origins'>): void {
  const host = (authority ?? req.headers.host)?.toLowerCase();
  const loopbackConnection = isLoopbackAddress(req.socket.localAddress);
  if (host !== undefined) {
    if (conf.allowed_hosts.length > 0) {
      if (!conf.allowed_hosts.some((allowed) => sameHost(allowed.toLowerCase(), host))) throw forbidden('Host');
    } else if (loopbackConnection && !isLoopbackName(hostnameOf(host))) {
      throw forbidden('Host');
    }
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  if (conf.allowed_origins.includes('*') || conf.allowed_origins.includes(origin)) return;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw forbidden('Origin');
  }
  if (host !== undefined && url.host === host) return;
  if (loopbackConnection && isLoopbackName(url.hostname)) return;
  throw forbidden('Origin');
}

function forbidden(what: 'Host' | 'Origin') {
  return mcpHttpError(MCP_ERRORS.GW_MCP_FORBIDDEN_ORIGIN, `${what} not allowed`);
}

/** `name` matches `host` (name:port); an allowed entry without a port matches any port. */
function sameHost(allowed: string, host: string): boolean {
  return allowed === host || allowed === hostnameOf(host);
}

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name);
}

function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
