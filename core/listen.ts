/** Listening and closing for the gateway's HTTP listeners (data plane, Admin API, status). */
import type { Server } from 'node:http';
import type { ListenAddress } from './config.js';

/**
 * Binds `server`; resolves with the address actually bound (port 0 picks a free port). Once bound,
 * errors of the listening socket (an accept that fails for lack of memory or buffers; libuv copes
 * with EMFILE itself) go to `onError`: an emitter's error with no listener would end the process.
 */
export function listen(server: Server, address: ListenAddress, onError: (err: Error) => void = warn): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      server.on('error', onError);
      const bound = server.address();
      resolve({ host: address.host, port: typeof bound === 'object' && bound ? bound.port : address.port });
    });
  });
}

/** Stops accepting and drops every connection at once (listeners with no requests to drain). */
export function closeNow(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function warn(err: Error): void {
  process.emitWarning(`listener error: ${err.message}`);
}
