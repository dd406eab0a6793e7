/**
 * Waiting inside a request without outliving its client: limit-req's and limit-conn's delays.
 */
import { clientGone } from '../../core/errors.js';

/** Waits `ms`, or throws the client-gone error as soon as the client leaves. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(clientGone());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(clientGone());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
