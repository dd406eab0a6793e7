/** Listening and closing for the gateway's HTTP listeners (data plane, Admin API, status). */
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
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

/**
 * `address` with a fixed port: port 0 becomes one the OS says is free now. Workers that take over
 * a listener from a dead one must find it at the same port, and node:cluster frees a shared port
 * once no worker holds it; so a primary fixes every port before forking.
 */
export function fixedPort(address: ListenAddress): Promise<ListenAddress> {
  if (address.port !== 0) return Promise.resolve(address);
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, address.host, () => {
      const bound = probe.address();
      const port = typeof bound === 'object' && bound ? bound.port : 0;
      probe.close(() => resolve({ host: address.host, port }));
    });
  });
}
