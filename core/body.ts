/**
 * Reading a request body into memory, bounded: a declared length over the limit is refused before
 * a byte is read, an undeclared one as soon as the count passes it, and a client that stalls gets
 * 408 after the idle timeout.
 */
import type { IncomingMessage } from 'node:http';
import { CORE_ERRORS, type GatewayError } from './errors.js';

export function bodyTooLarge(limit: number): GatewayError {
  return CORE_ERRORS.GW_BODY_TOO_LARGE.error({ message: `request body is larger than ${limit} bytes` });
}

/** Throws 413 when the declared Content-Length is over `limit`. */
export function checkDeclaredLength(req: IncomingMessage, limit: number): void {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > limit) throw bodyTooLarge(limit);
}

export function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  checkDeclaredLength(req, limit);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer = setTimeout(onIdle, idleMs);
    function onIdle() {
      finish(CORE_ERRORS.GW_BODY_TIMEOUT.error());
    }
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size > limit) {
        finish(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
      timer.refresh();
    }
    function onEnd() {
      finish(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    }
    function onAborted() {
      finish(CORE_ERRORS.GW_BODY_ABORTED.error());
    }
    function finish(err?: GatewayError, body?: Buffer) {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAborted);
      req.off('aborted', onAborted);
      if (err) {
        // Stop reading what we will not use; the connection is closed after the error response.
        req.pause();
        reject(err);
      } else {
        resolve(body!);
      }
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAborted);
    req.on('aborted', onAborted);
    timer = timer.unref();
  });
}
