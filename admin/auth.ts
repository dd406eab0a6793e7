/**
 * Admin API access: the socket address must be on the allow-list (a forwarded header is never
 * consulted), and the `X-API-KEY` header must carry a known key (never a query string or a
 * cookie). Keys are compared in constant time; viewers may only read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { BlockList } from 'node:net';
import { addressIn, buildBlockList, plainAddress } from '../core/client-ip.js';

export type AdminRole = 'admin' | 'viewer';

export interface AdminKey {
  name: string;
  key: string;
  role: AdminRole;
}

/** APISIX's former shipped default (CVE-2020-13945): never accepted as a key. */
export const WELL_KNOWN_KEYS = new Set(['edd1c9f034335f136f87ad84b625c8f1', '4054f7cf07e344346cd3f287985e76a2']);

export const MIN_KEY_LENGTH = 16;

interface DigestedKey {
  digest: Buffer;
  role: AdminRole;
  name: string;
}

export class AdminAuth {
  private readonly keys: DigestedKey[];
  private readonly allow: BlockList;

  constructor(keys: readonly AdminKey[], allow: readonly string[]) {
    this.keys = keys.map((k) => ({ digest: digest(k.key), role: k.role, name: k.name }));
    this.allow = buildBlockList(allow);
  }

  /** The client address must be on the allow-list (the socket's, never a forwarded header). */
  allowList() {
    return async (ctx: Context, next: Next) => {
      if (!addressIn(this.allow, plainAddress(ctx.req.socket.remoteAddress))) {
        ctx.status = 403;
        ctx.body = { error_msg: 'IP address not allowed' };
        return;
      }
      await next();
    };
  }

  /** A known key in `X-API-KEY`; viewers may only read. */
  keyCheck() {
    return async (ctx: Context, next: Next) => {
      const header = ctx.get('x-api-key');
      if (!header) return deny(ctx, 'missing apikey');
      const presented = digest(header);
      // Compare against every key so the time taken does not reveal which one matched.
      let match: DigestedKey | undefined;
      for (const key of this.keys) if (timingSafeEqual(presented, key.digest) && !match) match = key;
      if (!match) return deny(ctx, 'wrong apikey');
      if (match.role === 'viewer' && ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        return deny(ctx, 'invalid method for role viewer');
      }
      ctx.state.adminRole = match.role;
      ctx.state.adminKeyName = match.name;
      await next();
    };
  }
}

function deny(ctx: Context, description: string): void {
  ctx.status = 401;
  ctx.body = { error_msg: 'failed to check token', description };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
