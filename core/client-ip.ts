/**
 * The client address every decision uses (limits, allow-lists, logs). It is the socket address
 * unless that address is a configured trusted proxy; a client-supplied X-Forwarded-For or
 * X-Real-IP is never believed otherwise (CVE-2022-24112).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP, isIPv6 } from 'node:net';
import { addressProblem } from './address.js';
import { CORE_ERRORS } from './errors.js';

/** Throws an Error naming the entry when one is not an address or CIDR (see addressProblem). */
export function buildBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const problem = addressProblem(entry);
    if (problem) throw new Error(problem);
    const [address, bits] = entry.split('/');
    const family = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function addressIn(list: BlockList, address: string): boolean {
  if (!address) return false;
  return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
}

/**
 * Finds the client address behind trusted proxies, as nginx's realip module does with
 * `real_ip_recursive on`: the header's entries are walked from the nearest hop outwards and the
 * first address that is not a trusted proxy is the client (every hop trusted: the farthest).
 * Text that is not an address never becomes the client — it would reach allow-lists, limit keys
 * and logs as one. Deeper in the list it ends the walk: a hop we trust vouched only for the
 * address it saw, so that address is the client. As the nearest entry, the one the trusted
 * peer itself vouches for, it is refused: falling back to the peer would hand every client of a
 * misbehaving proxy the proxy's own address, which allow-lists often name.
 */
export class ClientAddressResolver {
  private readonly trusted?: BlockList;
  private readonly header: string;

  constructor(
    trustedProxies: readonly string[],
    private readonly headerName = 'X-Forwarded-For',
  ) {
    if (trustedProxies.length > 0) this.trusted = buildBlockList(trustedProxies);
    this.header = headerName.toLowerCase();
  }

  /** Whether the connection comes from a trusted proxy (whose X-Forwarded-* values are kept). */
  trusts(socketAddress: string | undefined): boolean {
    return this.trusted !== undefined && addressIn(this.trusted, plainAddress(socketAddress));
  }

  /** Throws an Error naming the header when a trusted proxy's nearest entry is not an address. */
  resolve(socketAddress: string | undefined, headers: IncomingHttpHeaders): string {
    const peer = plainAddress(socketAddress);
    if (!this.trusted) return peer;
    const forwarded = headers[this.header];
    if (!forwarded || !addressIn(this.trusted, peer)) return peer;
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
    let client = peer;
    let nearest = true;
    for (let i = hops.length - 1; i >= 0; i--) {
      const entry = hops[i].trim();
      if (entry === '') continue;
      const hop = hopAddress(entry);
      if (hop === undefined) {
        if (nearest) throw CORE_ERRORS.GW_BAD_FORWARDED_ADDRESS.error({ message: `${this.headerName} from a trusted proxy does not end with an IP address: ${JSON.stringify(entry.slice(0, 64))}` });
        return client;
      }
      nearest = false;
      client = hop;
      if (!addressIn(this.trusted, hop)) return hop;
    }
    return client;
  }
}

/**
 * The address in one forwarded entry: `1.2.3.4`, `2001:db8::1`, or with a port as some load
 * balancers write it (`1.2.3.4:5678`, `[2001:db8::1]:5678`, `[2001:db8::1]`); undefined otherwise.
 */
function hopAddress(entry: string): string | undefined {
  let address = entry;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0 || (close !== address.length - 1 && !(address[close + 1] === ':' && isPort(address.slice(close + 2))))) return undefined;
    address = address.slice(1, close);
    return isIPv6(address) ? address : undefined;
  }
  const colon = address.indexOf(':');
  if (colon > 0 && colon === address.lastIndexOf(':') && isPort(address.slice(colon + 1))) address = address.slice(0, colon);
  address = plainAddress(address);
  return isIP(address) ? address : undefined;
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) <= 65535;
}
