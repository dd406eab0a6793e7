/**
 * The request body as undici reads it: the client's request behind a pass-through that counts
 * bytes (an undeclared length is checked against the limit here) and watches both ends of the
 * upload. undici has no write timeout, so `timeout.send` is enforced here: data waiting to go
 * upstream with no progress for that long ends the request with 504 (nginx's
 * proxy_send_timeout); a client that sends nothing for `request_body_idle` while the gateway is
 * ready to read gets 408 (nginx's client_body_timeout). Every failure of the upload travels as
 * an error of this stream, so the proxy answers it once, through its usual error path.
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { bodyTooLarge } from '../body.js';
import { CORE_ERRORS } from '../errors.js';

export interface RequestBodyLimits {
  maxBodyBytes: number;
  /** No progress towards the upstream while data waits: 504. */
  sendTimeoutMs: number;
  /** No data from the client while the gateway waits for it: 408. */
  idleTimeoutMs: number;
}

/** The stream to hand to undici, or undefined for a request without a body. */
export function requestBody(req: IncomingMessage, limits: RequestBodyLimits): Readable | undefined {
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked) {
    const length = req.headers['content-length'];
    if (length === undefined || length === '0') return undefined;
  }
  let seen = 0;
  let lastProgress = Date.now();
  const pipe = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      lastProgress = Date.now();
      // A declared length was checked before the chain ran, and Node's parser enforces it.
      if (chunked && seen > limits.maxBodyBytes) {
        done(bodyTooLarge(limits.maxBodyBytes));
        return;
      }
      done(null, chunk);
    },
  });
  // Attached now, not when undici first reads the stream: a request can wait for a connection,
  // and an error meanwhile (the client abandoning its upload) on a stream nobody listened to
  // would end the process. The proxy listens per attempt; this one only keeps the error quiet.
  pipe.on('error', ignore);

  const { sendTimeoutMs, idleTimeoutMs } = limits;
  const watchdog = setInterval(
    () => {
      const waiting = pipe.readableLength > 0 || pipe.writableLength > 0 || req.readableLength > 0;
      const still = Date.now() - lastProgress;
      if (waiting && still > sendTimeoutMs) {
        pipe.destroy(CORE_ERRORS.GW_UPSTREAM_SEND_TIMEOUT.error());
      } else if (!waiting && !req.complete && still > idleTimeoutMs) {
        pipe.destroy(CORE_ERRORS.GW_BODY_TIMEOUT.error());
      }
    },
    Math.max(50, Math.min(1000, sendTimeoutMs / 4, idleTimeoutMs / 4)),
  );
  watchdog.unref();
  const stop = () => clearInterval(watchdog);
  pipe.once('end', stop);
  pipe.once('close', stop);
  // Node emits the request's errors only to listeners: an upload cut short (the client reset or
  // closed its connection mid-body) is the client's failure, never the upstream's.
  req.on('error', (err) => pipe.destroy(CORE_ERRORS.GW_BODY_ABORTED.error({ cause: err })));
  return req.pipe(pipe);
}

function ignore(): void {}
