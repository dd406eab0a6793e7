/**
 * The client address every decision uses (limits, allow-lists, logs). It is the socket address
 * unless that address is a configured trusted proxy; a client-supplied X-Forwarded-For or
 * X-Real-IP is never believed otherwise (CVE-2022-24112).
 */
import { BlockList, isIPv6 } from 'node:net';
import { addressProblem } from './address.js';

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

export class ClientAddressResolver {
  private readonly trusted?: BlockList;

  constructor(trustedProxies: readonly string[]) {
    if (trustedProxies.length > 0) this.trusted = buildBlockList(trustedProxies);
  }

  resolve(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
    const peer = plainAddress(socketAddress);
    if (!this.trusted || !forwardedFor || !addressIn(this.trusted, peer)) return peer;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    // Walk from the nearest hop outwards; the first address we do not trust is the client.
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plainAddress(hops[i].trim());
      if (hop && !addressIn(this.trusted, hop)) return hop;
    }
    return peer;
  }
}
