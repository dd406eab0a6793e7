/**
 * The child reaper (plugins/kit/mcp/reaper.ts) runs while a gateway has MCP children and stays
 * `reaper_linger` seconds after the last one is gone, so that sessions one after another reuse it.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, bridgeRoute, descendants, endRawSession, isAlive, rawSession, startBridgeGateway, waitFor } from './support.js';

const reaperPid = () => descendants().find((p) => p.command.includes('tollgate-mcp-reaper'))?.pid;
const serverPids = () => descendants().filter((p) => p.command.includes('fault-server.mjs')).map((p) => p.pid);

describe('mcp-bridge: reaper_linger', () => {
  let gateway: TestGateway | undefined;
  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
  });

  it('keeps the reaper for the next session while reaper_linger lasts', async () => {
    gateway = await startBridgeGateway({ mcp: { reaper_linger: 30 } });
    const base = await bridgeRoute(gateway, 'linger', [FAULT_SERVER]);
    await endRawSession(base, await rawSession(base));
    const reaper = reaperPid();
    expect(reaper, 'a reaper ran for the first session').to.be.a('number');
    expect(await waitFor(() => serverPids().length === 0, 5000), 'the first session’s server stopped').to.equal(true);
    // Longer than the 1 s default: the setting, not the default, keeps it.
    expect(await waitFor(() => !isAlive(reaper!), 1500), 'the reaper left before reaper_linger').to.equal(false);
    const second = await rawSession(base);
    expect(reaperPid(), 'the second session reuses it').to.equal(reaper);
    await endRawSession(base, second);
  });

  it('with reaper_linger 0 the reaper goes with the last child', async () => {
    gateway = await startBridgeGateway({ mcp: { reaper_linger: 0 } });
    const base = await bridgeRoute(gateway, 'prompt', [FAULT_SERVER]);
    const session = await rawSession(base);
    const reaper = reaperPid();
    expect(reaper, 'a reaper runs while the session has its server').to.be.a('number');
    await endRawSession(base, session);
    expect(await waitFor(() => serverPids().length === 0 && !isAlive(reaper!), 5000), 'server and reaper gone').to.equal(true);
  });

  it('refuses a negative reaper_linger, naming the key', async () => {
    let error: unknown;
    try {
      gateway = await startBridgeGateway({ mcp: { reaper_linger: -1 } });
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/reaper_linger/);
  });
});
