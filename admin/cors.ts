/**
 * What the Admin API answers before it asks for a key, as APISIX does (apisix/init.lua
 * `cors_admin`, apisix/admin/init.lua `head`), once the client address passed the allow-list:
 * - with `admin.cors` (APISIX's `enable_admin_cors`, on by default), CORS headers on every reply
 *   and a preflight (`OPTIONS`) answered 200 with an empty body, so a browser console on another
 *   origin can call the API. It weakens nothing: the key is read from `X-API-KEY` only, never a
 *   cookie, so a page still needs the key to do anything, and a preflight reveals nothing;
 * - `HEAD /apisix/admin`, 200 with no body: a liveness probe that says only that an Admin API
 *   listens here, which the connection said already.
 */
import type { Context, Next } from 'koa';

const ADMIN_ROOT = '/apisix/admin';

export function corsHeaders() {
  return async (ctx: Context, next: Next) => {
    if (ctx.method === 'OPTIONS') {
      ctx.set({
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'POST, GET, PUT, OPTIONS, DELETE, PATCH',
        'Access-Control-Max-Age': '3600',
        'Access-Control-Allow-Headers': '*',
        'Access-Control-Allow-Credentials': 'true',
      });
      ctx.status = 200;
      ctx.type = 'text/plain';
      ctx.body = '';
      return;
    }
    ctx.set({
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': '*',
      'Access-Control-Max-Age': '3600',
    });
    await next();
  };
}

export function headProbe() {
  return async (ctx: Context, next: Next) => {
    if (ctx.method === 'HEAD' && ctx.path === ADMIN_ROOT) {
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    await next();
  };
}
