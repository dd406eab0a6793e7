/**
 * One normalized path for matching, for every plugin and for the upstream (CVE-2021-43557 came
 * from plugins and the router seeing different paths). Unreserved percent-escapes are decoded,
 * dot segments resolved, repeated slashes collapsed; an encoded slash stays encoded, so `/a%2Fb`
 * is one segment everywhere.
 */
import { CORE_ERRORS } from './errors.js';

const UNRESERVED = /[A-Za-z0-9\-._~]/;

export interface SplitUrl {
  path: string;
  query: string;
  /** host[:port] of an absolute-form target (`GET http://a.example/x`), which replaces the Host header (RFC 9112 §3.2.2). */
  authority?: string;
}

/** Splits and normalizes a request target; throws a 400 GatewayError for a malformed one. */
export function normalizeRequestTarget(target: string): SplitUrl {
  let raw = target;
  let authority: string | undefined;
  if (!raw.startsWith('/')) {
    if (/^https?:\/\//i.test(raw)) {
      const url = new URL(raw);
      // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
      if (url.username || url.password) throw CORE_ERRORS.GW_BAD_REQUEST_TARGET.error({ message: 'request target must not carry userinfo' });
      raw = url.pathname + url.search;
      authority = url.host;
    } else {
      throw CORE_ERRORS.GW_BAD_REQUEST_TARGET.error();
    }
  }
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  return { path: normalizePath(path), query, authority };
}

export function normalizePath(path: string): string {
  // Fast path: nothing to decode or resolve.
  if (!path.includes('%') && !path.includes('//') && !path.includes('/.')) return path;
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c !== '%') {
      decoded += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw CORE_ERRORS.GW_BAD_PATH.error();
    const ch = String.fromCharCode(parseInt(hex, 16));
    decoded += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '' && !last) {
      continue;
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}
