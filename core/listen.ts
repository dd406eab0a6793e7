/** Listening and closing for the gateway's HTTP listeners (data plane, Admin API, status). */
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
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
 * `address` with a fixed port: port 0 becomes one that is free now. Workers that take over a
 * listener from a dead one must find it at the same port, and node:cluster frees a shared port
 * once no worker holds it; so a primary fixes every port before forking. The port is chosen
 * below the kernel's ephemeral range: workers take seconds to start and listen, and meanwhile
 * any outgoing connection on the machine could be given an ephemeral port as its local port.
 */
export async function fixedPort(address: ListenAddress): Promise<ListenAddress> {
  if (address.port !== 0) return address;
  const ephemeralLow = ephemeralRangeStart();
  const low = Math.min(10_000, ephemeralLow - 1000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    if (await canBind(address.host, port)) return { host: address.host, port };
  }
  // A crowded range: let the OS pick, from its ephemeral range.
  return { host: address.host, port: await boundPort(address.host, 0) };
}

function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2000 ? low : 32768;
  } catch {
    return 32768;
  }
}

function canBind(host: string, port: number): Promise<boolean> {
  return boundPort(host, port).then(
    () => true,
    () => false,
  );
}

function boundPort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(port, host, () => {
      const bound = probe.address();
      probe.close(() => resolve(typeof bound === 'object' && bound ? bound.port : port));
    });
  });
}
