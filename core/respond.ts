/**
 * Writes a locally produced response (a plugin's reply, an error) from the Koa context. Koa's own
 * request handling is not used on the data plane: it adds an on-finished listener pair and a
 * promise chain to every request, measurable at proxy rates. The context stays Koa's, so plugins
 * use `ctx.status`, `ctx.set` and `ctx.body` as usual; this mirrors Koa's `respond()`
 * (lib/application.js) through Koa's public API only.
 */
import type { ServerResponse } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import type { GatewayContext } from './context.js';
import { errorBody, errorHeaders, type GatewayError } from './errors.js';

/** The status the client got: nginx's 499 when it left before being answered; 101 for a WebSocket tunnel. */
export function responseStatus(ctx: GatewayContext): number {
  return statusSent(ctx.res);
}

/** `responseStatus` of a response object. */
export function statusSent(res: ServerResponse): number {
  // A tunnel's 101 is written on the socket, past the response object (core/upstream/proxy.ts).
  return res.headersSent || res.writableFinished || res.statusCode === 101 ? res.statusCode : 499;
}

/**
 * Every error answer the gateway makes itself goes through here: the error's status, its headers
 * (`Retry-After` from `retryAfter`), and its body (`errorBody`: code, message, request id).
 */
export function replyWithError(ctx: GatewayContext, error: GatewayError, requestId: string): void {
  ctx.status = error.status;
  const headers = errorHeaders(error);
  if (headers) ctx.set(headers);
  ctx.body = errorBody(error, requestId);
}

const EMPTY_BODY_STATUS = new Set([204, 205, 304]);

export function respond(ctx: GatewayContext, onStreamError: (err: Error) => void): void {
  if (ctx.respond === false) return;
  const res = ctx.res;
  if (res.writableEnded || res.destroyed) return;
  const status = ctx.status;
  if (EMPTY_BODY_STATUS.has(status)) {
    ctx.body = null;
    res.end();
    return;
  }
  let body: unknown = ctx.body;
  if (ctx.method === 'HEAD') {
    if (!res.headersSent && !res.hasHeader('content-length')) {
      const { length } = ctx.response;
      if (Number.isInteger(length)) ctx.length = length;
    }
    res.end();
    return;
  }
  if (body === null || body === undefined) {
    // `ctx.body = null` is an explicit empty answer; a body never set answers its status text.
    // Koa tells them apart by a private field (`_explicitNullBody`); the public getter tells
    // them apart too: a body never set reads undefined, one set to null reads null.
    if (body === null) {
      ctx.response.remove('Content-Type');
      ctx.length = 0;
      res.end();
      return;
    }
    body = ctx.message || String(status);
    if (!res.headersSent) {
      ctx.type = 'text';
      ctx.length = Buffer.byteLength(body as string);
    }
    res.end(body);
    return;
  }
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    res.end(body);
    return;
  }
  if (body instanceof Readable) {
    pipeline(body, res, (err) => {
      if (err) onStreamError(err);
    });
    return;
  }
  const json = JSON.stringify(body);
  if (!res.headersSent) ctx.length = Buffer.byteLength(json);
  res.end(json);
}
