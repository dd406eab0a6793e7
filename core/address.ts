/**
 * Addresses in configuration and catalog records, checked before they are stored or used: a
 * malformed one used to be accepted and then fail every request, or (a route's `remote_addr`)
 * stop every start of the gateway (issue 10 item 11).
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** Why `entry` is not an IP address or CIDR (`10.0.0.0/8`, `::1/128`); BlockList throws on one. */
export function addressProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `"${entry}" is not an IP address or CIDR`;
  if (slash < 0) return undefined;
  const bits = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) return `"${entry}": the prefix length must be 0-${max}`;
  return undefined;
}

/**
 * Why a host and port (an upstream node, a Redis node) cannot be connected to: a port outside
 * 1-65535, or an IP literal that is not one. Host names are left to the resolver.
 */
export function hostPortProblem(host: string, port: string | undefined): string | undefined {
  if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return 'has a port outside 1-65535';
  if (host.startsWith('[') || host.endsWith(']')) {
    return host.startsWith('[') && host.endsWith(']') && isIPv6(host.slice(1, -1)) ? undefined : 'is not a valid IPv6 address';
  }
  if (host.includes(':')) return isIPv6(host) ? undefined : 'is not a valid IPv6 address';
  // All digits and dots is an IPv4 literal to every resolver (`1.2.3` would even mean 1.2.0.3).
  if (/^[0-9.]+$/.test(host) && !isIPv4(host)) return 'is not a valid IPv4 address';
  return undefined;
}

/**
 * `host:port`, `[v6]:port`, `host` or `[v6]` split into host (without the brackets) and port (as
 * written, not checked: hostPortProblem says what is wrong with it). The one place that knows the
 * bracket rule, so node lists, their checks and the `upstream_*` variables read addresses alike.
 */
export function splitHostPort(address: string): { host: string; port?: string } {
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(address);
  if (v6) return v6[2] === undefined ? { host: v6[1] } : { host: v6[1], port: v6[2] };
  const colon = address.lastIndexOf(':');
  return colon < 0 ? { host: address } : { host: address.slice(0, colon), port: address.slice(colon + 1) };
}
