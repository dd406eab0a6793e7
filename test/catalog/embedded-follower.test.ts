/**
 * The embedded catalog with several workers: one writer (EmbeddedCatalog) and followers reading
 * its files (EmbeddedFollower), on a real disk. The peers between them are an in-process hub with
 * the primary's semantics (publish to the others, retained messages for late joiners); the real
 * IPC path is covered by test/scale/workers.test.ts.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { EmbeddedCatalog } from '../../core/catalog/embedded.js';
import { EmbeddedFollower } from '../../core/catalog/embedded-follower.js';
import { CatalogUnavailableError, type CatalogEvent, type CatalogSnapshot } from '../../core/catalog/types.js';
import type { PeerTopic } from '../../core/workers/messages.js';
import type { PeerLink } from '../../core/workers/worker-link.js';
import { waitFor } from '../helpers/processes.js';

/** The primary's routing, in one process: each link publishes to the others; retained messages wait for late joiners. */
class Hub {
  private readonly links: Array<Map<PeerTopic, Set<(body: unknown) => void>>> = [];
  private readonly retained = new Map<PeerTopic, unknown>();
  /** While false, messages are lost (a follower must still catch up, by its own check of the files). */
  delivering = true;

  link(): PeerLink {
    const listeners = new Map<PeerTopic, Set<(body: unknown) => void>>();
    this.links.push(listeners);
    const hub = this;
    return {
      publish(topic, body, retain = false) {
        if (retain) hub.retained.set(topic, body);
        if (!hub.delivering) return;
        for (const other of hub.links) if (other !== listeners) for (const listener of other.get(topic) ?? []) listener(body);
      },
      subscribe(topic, listener) {
        let set = listeners.get(topic);
        if (!set) listeners.set(topic, (set = new Set()));
        set.add(listener);
        if (hub.retained.has(topic)) listener(hub.retained.get(topic));
        return () => set.delete(listener);
      },
    };
  }
}

const logger = pino({ level: 'silent' });
const routeIds = (snapshot: CatalogSnapshot) => [...snapshot.list('routes').keys()].sort();

describe('embedded catalog: one writer, followers', () => {
  let dir: string;
  let hub: Hub;
  let writer: EmbeddedCatalog;
  const followers: EmbeddedFollower[] = [];
  const file = () => join(dir, 'catalog.json');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-follower-'));
    hub = new Hub();
    writer = new EmbeddedCatalog({ file: file(), logger, compactEvery: 4, peers: hub.link() });
    await writer.start();
  });
  afterEach(async () => {
    await Promise.all(followers.splice(0).map((f) => f.close()));
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const follower = async (pollMs = 60_000) => {
    const f = new EmbeddedFollower({ file: file(), logger, peers: hub.link(), pollMs });
    followers.push(f);
    await f.start();
    return f;
  };
  const put = (id: string) => writer.put('routes', id, { uri: `/${id}` });

  it('loads what the writer wrote before it started, then each write and delete as it is acknowledged', async () => {
    await put('a');
    await put('b');
    const f = await follower();
    expect(routeIds(f.snapshot())).to.deep.equal(['a', 'b']);
    expect(f.snapshot().revision).to.equal(2);
    const seen: number[] = [];
    f.onChange((snapshot) => seen.push(snapshot.revision));
    await put('c');
    expect(routeIds(f.snapshot())).to.deep.equal(['a', 'b', 'c']);
    await writer.delete('routes', 'a');
    expect(routeIds(f.snapshot())).to.deep.equal(['b', 'c']);
    expect(f.snapshot().get('routes', 'c')).to.deep.equal(writer.snapshot().get('routes', 'c'));
    expect(seen).to.deep.equal([3, 4]);
  });

  it('stays in step across compactions (the log folded into a new snapshot file)', async () => {
    const f = await follower();
    for (let i = 0; i < 15; i++) {
      await put(`r${i}`);
      if (i % 3 === 0) await writer.delete('routes', `r${i}`);
      expect(f.snapshot().revision, `after write ${i}`).to.equal(writer.snapshot().revision);
      expect(routeIds(f.snapshot())).to.deep.equal(routeIds(writer.snapshot()));
    }
    // A follower that starts after several compactions reads the newest snapshot file.
    const late = await follower();
    expect(routeIds(late.snapshot())).to.deep.equal(routeIds(writer.snapshot()));
  });

  it('catches up by checking the files when announcements are lost', async () => {
    const f = await follower(50);
    hub.delivering = false;
    for (let i = 0; i < 6; i++) await put(`q${i}`);
    expect(await waitFor(() => f.snapshot().revision === writer.snapshot().revision, 2000)).to.equal(true);
    expect(routeIds(f.snapshot())).to.deep.equal(routeIds(writer.snapshot()));
  });

  it('hears catalog events (a plugin reload on the Admin API) and refuses writes of its own', async () => {
    const f = await follower();
    const events: CatalogEvent[] = [];
    f.onBroadcast((event) => events.push(event));
    await writer.broadcast('plugins-reload');
    expect(events).to.deep.equal(['plugins-reload']);
    let refused: unknown;
    await f.put('routes', 'x', { uri: '/x' }).catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(CatalogUnavailableError);
    expect((refused as Error).message).to.include('Admin API, served by worker 1');
  });
});
