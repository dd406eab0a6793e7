/**
 * The host a request is for, as route matching, `var('host')` and the upstream's Host see it
 * (RFC 9112 §3.2): the authority of an absolute-form request target wins over the Host header
 * (§3.2.2); more than one Host header, or one that is not a host name, is a 400; the name is
 * compared lower-cased, without its port and without a trailing dot (`example.com.` is
 * `example.com`, as nginx's $host has it), so no spelling of a host skips its routes.
 */
import type { IncomingMessage } from 'node:http';
import { CORE_ERRORS } from './errors.js';

/**
 * host[:port]: letters, digits, `-` and `_` in dot-separated labels (one trailing dot allowed),
 * or an IPv6 literal; the port digits only.
 */
const AUTHORITY = /^(?:([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\.?|(\[[0-9a-f:.]+\]))(?::[0-9]{1,5})?$/;

/** The one Host header of a request (undefined when there is none); 400 when there are several. */
export function hostHeader(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && name.toLowerCase() === 'host') seen += 1;
  }
  // Node keeps the first of repeated Host headers; which one a hop behind us would take is a guess.
  if (seen > 1) throw CORE_ERRORS.GW_BAD_HOST.error({ message: 'more than one Host header' });
  return req.headers.host;
}

/** The last authority seen and its host: nearly every request to a gateway names the same one. */
let lastAuthority = '';
let lastHost = '';

/** `authority` (host[:port]) as matching sees it; '' for none; 400 when it is not a host. */
export function hostName(authority: string | undefined): string {
  if (!authority) return '';
  if (authority === lastAuthority) return lastHost;
  const match = AUTHORITY.exec(authority.toLowerCase());
  if (!match) throw CORE_ERRORS.GW_BAD_HOST.error();
  lastAuthority = authority;
  lastHost = match[1] ?? match[2];
  return lastHost;
}
