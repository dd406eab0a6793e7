/**
 * One contract, both backends: whatever the embedded file catalog does, the Redis catalog does
 * too, so operators can switch without surprises.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../../core/catalog/embedded.js';
import { RedisCatalog } from '../../core/catalog/redis.js';
import {
  CatalogConflictError,
  CatalogInUseError,
  CatalogReferenceError,
  type Catalog,
  type CatalogChange,
  type CatalogSnapshot,
  type Cascades,
  type ClaimsOf,
  type ReferencesOf,
} from '../../core/catalog/types.js';
import { createLogger } from '../../core/logger.js';
import { sharedRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/processes.js';

const logger = createLogger('silent');
/** Test claims: a consumer's or a credential's `key`, in one scope, as key-auth's credentialField makes them. */
const claims: ClaimsOf = (kind, value) =>
  (kind === 'consumers' || kind === 'credentials') && typeof value.key === 'string' ? [{ scope: 'consumers', label: 'test key', value: value.key }] : [];
/**
 * Test references: a route's or a service's `upstream_id`; a credential's consumer, named by its
 * id (`{username}/…`); and optional ones, as plugin configs make them: any record's `split_ids`.
 */
const references: ReferencesOf = (kind, value, id) => {
  if (kind === 'credentials') return [{ kind: 'consumers', id: id.split('/')[0] }];
  const optional = Array.isArray(value.split_ids) ? (value.split_ids as string[]).map((target) => ({ kind: 'upstreams' as const, id: target, optional: true })) : [];
  return (kind === 'routes' || kind === 'services') && typeof value.upstream_id === 'string' ? [{ kind: 'upstreams', id: value.upstream_id }, ...optional] : optional;
};
/** A consumer's credentials go with it. */
const cascades: Cascades = { consumers: ['credentials'] };

interface Backend {
  name: string;
  /** A catalog over fresh (or, with `reuse`, the same) storage. */
  open(reuse?: boolean): Promise<Catalog>;
  cleanup(): Promise<void>;
}

function embedded(): Backend {
  let dir = '';
  return {
    name: 'embedded',
    async open(reuse) {
      if (!reuse || !dir) dir = mkdtempSync(join(tmpdir(), 'tollgate-catalog-'));
      return new EmbeddedCatalog({ file: join(dir, 'catalog.json'), logger, compactEvery: 5, claims, references, cascades });
    },
    async cleanup() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function redis(): Backend {
  let prefix = '';
  return {
    name: 'redis',
    async open(reuse) {
      const server = await sharedRedis();
      if (!reuse || !prefix) prefix = `contract${Date.now()}${Math.random().toString(36).slice(2, 7)}`;
      return new RedisCatalog({ redis: { url: server.url, commandTimeout: 2 }, keyPrefix: prefix, logger, pollInterval: 0.1, claims, references, cascades });
    },
    async cleanup() {},
  };
}

for (const backend of [embedded(), redis()]) {
  describe(`catalog contract: ${backend.name}`, () => {
    let catalog: Catalog;

    beforeEach(async () => {
      catalog = await backend.open();
      await catalog.start();
    });
    afterEach(async () => {
      await catalog.close();
      await backend.cleanup();
    });

    it('starts empty and loaded', () => {
      expect(catalog.snapshot().list('routes').size).to.equal(0);
      expect(catalog.health()).to.include({ loaded: true, connected: true });
    });

    it('stores a record with server timestamps and indexes', async () => {
      const { record, created } = await catalog.put('routes', '1', { id: '1', uri: '/a' });
      expect(created).to.equal(true);
      expect(record.value).to.include({ id: '1', uri: '/a' });
      expect(record.value.create_time).to.be.a('number');
      expect(record.value.update_time).to.equal(record.value.create_time);
      expect(record.createdIndex).to.equal(record.modifiedIndex);
      expect(catalog.snapshot().get('routes', '1')).to.deep.equal(record);
    });

    it('replacing keeps createdIndex and create_time and bumps modifiedIndex', async () => {
      const first = await catalog.put('routes', '1', { id: '1', uri: '/a' });
      const second = await catalog.put('routes', '1', { id: '1', uri: '/b' });
      expect(second.created).to.equal(false);
      expect(second.record.createdIndex).to.equal(first.record.createdIndex);
      expect(second.record.modifiedIndex).to.be.greaterThan(first.record.modifiedIndex);
      expect(second.record.value.create_time).to.equal(first.record.value.create_time);
      expect(second.record.value.uri).to.equal('/b');
    });

    it('keeps JSON exactly: empty arrays, nested objects, unicode', async () => {
      const value = { id: 'x', args: [], nested: { a: [1, { b: null }] }, text: 'héllo "quoted" ✓', big: 12345678901234 };
      const { record } = await catalog.put('upstreams', 'x', value);
      expect(record.value).to.deep.include(value);
    });

    it('deletes and reports what was deleted', async () => {
      await catalog.put('services', 's', { id: 's' });
      const deleted = await catalog.delete('services', 's');
      expect(deleted?.value.id).to.equal('s');
      expect(catalog.snapshot().get('services', 's')).to.equal(undefined);
      expect(await catalog.delete('services', 's')).to.equal(undefined);
    });

    it('generates unique, ordered 20-digit ids', async () => {
      const a = await catalog.nextId();
      const b = await catalog.nextId();
      expect(a).to.match(/^\d{20}$/);
      expect(b > a).to.equal(true);
    });

    it('notifies listeners with a new snapshot per change; old snapshots do not change', async () => {
      const seen: Array<{ snapshot: CatalogSnapshot; changes: readonly CatalogChange[] | 'all' }> = [];
      const stop = catalog.onChange((snapshot, changes) => seen.push({ snapshot, changes }));
      const before = catalog.snapshot();
      await catalog.put('routes', 'r', { id: 'r', uri: '/r' });
      expect(await waitFor(() => seen.some((s) => s.snapshot.get('routes', 'r') !== undefined), 2000), 'a listener saw the change').to.equal(true);
      stop();
      expect(before.get('routes', 'r')).to.equal(undefined);
      expect(catalog.snapshot().revision).to.be.greaterThan(before.revision);
    });

    it('survives a restart with every record and keeps generating fresh ids', async () => {
      for (let i = 0; i < 12; i++) await catalog.put('routes', `r${i}`, { id: `r${i}`, uri: `/r${i}` });
      await catalog.delete('routes', 'r3');
      const id = await catalog.nextId();
      await catalog.put('routes', id, { id, uri: '/generated' });
      const revision = catalog.snapshot().revision;
      await catalog.close();
      catalog = await backend.open(true);
      await catalog.start();
      const snapshot = catalog.snapshot();
      expect(snapshot.revision).to.equal(revision);
      expect(snapshot.list('routes').size).to.equal(12);
      expect(snapshot.get('routes', 'r3')).to.equal(undefined);
      expect(snapshot.get('routes', 'r11')?.value.uri).to.equal('/r11');
      expect(await catalog.nextId()).to.not.equal(id);
      expect(Number(await catalog.nextId())).to.be.greaterThan(Number(id));
    });

    it('gives a claim to one record: parallel puts, replace keeps it, delete and change release it', async () => {
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => catalog.put('consumers', `c${i}`, { username: `c${i}`, key: 'k' })));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).to.have.length(1);
      const winner = (won[0] as PromiseFulfilledResult<{ record: { value: Record<string, unknown> } }>).value.record.value.username;
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).to.be.instanceOf(CatalogConflictError);
          expect(r.reason).to.deep.include({ kind: 'consumers', holder: { kind: 'consumers', id: winner } });
          expect(r.reason.claim).to.deep.equal({ scope: 'consumers', label: 'test key', value: 'k' });
        }
      }
      expect([...catalog.snapshot().list('consumers').keys()]).to.deep.equal([winner]);
      await catalog.put('consumers', String(winner), { username: winner, key: 'k', desc: 'again' });
      await catalog.put('consumers', String(winner), { username: winner, key: 'k2' });
      await catalog.put('consumers', 'taker', { username: 'taker', key: 'k' });
      await catalog.delete('consumers', String(winner));
      await catalog.put('consumers', 'other', { username: 'other', key: 'k2' });
      // Claims are per kind: a route may carry the same field without conflict.
      await catalog.put('routes', 'r', { id: 'r', key: 'k' });
    });

    it('refers only to records that exist, and deletes a record referred to only when forced', async () => {
      const missing = await catalog.put('routes', 'r', { id: 'r', upstream_id: 'u' }).catch((err: unknown) => err);
      expect(missing).to.be.instanceOf(CatalogReferenceError);
      expect((missing as CatalogReferenceError).missing).to.deep.equal({ kind: 'upstreams', id: 'u' });
      expect(catalog.snapshot().get('routes', 'r')).to.equal(undefined);
      await catalog.put('upstreams', 'u', { id: 'u' });
      await catalog.put('upstreams', 'v', { id: 'v' });
      await catalog.put('routes', 'r', { id: 'r', upstream_id: 'u' });
      await catalog.put('services', 's', { id: 's', upstream_id: 'u' });
      const inUse = await catalog.delete('upstreams', 'u').catch((err: unknown) => err);
      expect(inUse).to.be.instanceOf(CatalogInUseError);
      expect(inUse).to.deep.include({ target: { kind: 'upstreams', id: 'u' }, user: { kind: 'routes', id: 'r' } });
      // A replace takes its old reference back; a delete of the referrer too.
      await catalog.put('routes', 'r', { id: 'r', upstream_id: 'v' });
      await catalog.delete('services', 's');
      expect(await catalog.delete('upstreams', 'u')).to.not.equal(undefined);
      expect(await catalog.delete('upstreams', 'v', { force: true })).to.not.equal(undefined);
      expect(catalog.snapshot().get('routes', 'r')?.value.upstream_id).to.equal('v');
    });

    it('keeps a claim unique across the kinds of its scope: a credential and a consumer never share a key', async () => {
      await catalog.put('consumers', 'alex', { username: 'alex' });
      await catalog.put('consumers', 'bob', { username: 'bob', key: 'bob-key' });
      await catalog.put('credentials', 'alex/credentials/a', { id: 'a', key: 'alex-key' });
      const taken = await catalog.put('credentials', 'alex/credentials/b', { id: 'b', key: 'bob-key' }).catch((err: unknown) => err);
      expect(taken).to.be.instanceOf(CatalogConflictError);
      expect((taken as CatalogConflictError).holder).to.deep.equal({ kind: 'consumers', id: 'bob' });
      const back = await catalog.put('consumers', 'carol', { username: 'carol', key: 'alex-key' }).catch((err: unknown) => err);
      expect((back as CatalogConflictError).holder).to.deep.equal({ kind: 'credentials', id: 'alex/credentials/a' });
      // Parallel writers of one key, half consumers and half credentials: exactly one wins.
      const writes = Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0 ? catalog.put('consumers', `p${i}`, { username: `p${i}`, key: 'contended' }) : catalog.put('credentials', `alex/credentials/p${i}`, { id: `p${i}`, key: 'contended' }),
      );
      expect((await Promise.allSettled(writes)).filter((r) => r.status === 'fulfilled')).to.have.length(1);
      // A replace keeps its own key; a delete releases it.
      await catalog.put('credentials', 'alex/credentials/a', { id: 'a', key: 'alex-key', desc: 'again' });
      await catalog.delete('credentials', 'alex/credentials/a');
      await catalog.put('consumers', 'carol', { username: 'carol', key: 'alex-key' });
    });

    it('takes an optional reference to a record that does not exist, and guards one that does against deletion', async () => {
      await catalog.put('global_rules', 'split', { id: 'split', split_ids: ['later'] });
      await catalog.put('upstreams', 'later', { id: 'later' });
      const refused = await catalog.delete('upstreams', 'later').catch((err: unknown) => err);
      expect(refused).to.be.instanceOf(CatalogInUseError);
      expect((refused as CatalogInUseError).user).to.deep.equal({ kind: 'global_rules', id: 'split' });
      // Named no more: free to go.
      await catalog.put('global_rules', 'split', { id: 'split', split_ids: [] });
      expect(await catalog.delete('upstreams', 'later')).to.not.equal(undefined);
    });

    it('deletes a record with its dependents in one step, releasing their claims; a dependent needs its owner', async () => {
      const orphan = await catalog.put('credentials', 'nobody/credentials/x', { id: 'x' }).catch((err: unknown) => err);
      expect(orphan).to.be.instanceOf(CatalogReferenceError);
      await catalog.put('consumers', 'jack', { username: 'jack' });
      await catalog.put('credentials', 'jack/credentials/one', { id: 'one', key: 'jack-1' });
      await catalog.put('credentials', 'jack/credentials/two', { id: 'two', key: 'jack-2' });
      await catalog.put('consumers', 'jacky', { username: 'jacky' });
      await catalog.put('credentials', 'jacky/credentials/one', { id: 'one', key: 'jacky-1' });
      const seen: CatalogChange[] = [];
      const stop = catalog.onChange((_snapshot, changes) => changes !== 'all' && seen.push(...changes));
      expect(await catalog.delete('consumers', 'jack')).to.not.equal(undefined);
      stop();
      expect(seen.map((c) => `${c.kind}/${c.id}`).sort()).to.deep.equal(['consumers/jack', 'credentials/jack/credentials/one', 'credentials/jack/credentials/two']);
      expect([...catalog.snapshot().list('credentials').keys()]).to.deep.equal(['jacky/credentials/one']);
      // Their keys are free again, and another consumer's credentials stayed.
      await catalog.put('consumers', 'jill', { username: 'jill', key: 'jack-1' });
      const held = await catalog.put('consumers', 'jo', { username: 'jo', key: 'jacky-1' }).catch((err: unknown) => err);
      expect(held).to.be.instanceOf(CatalogConflictError);
    });

    it('deletes a record written with a ttl once it expires, with its dependents, and keeps one rewritten without', async () => {
      // Long enough for the writes that follow each record to find it still there (a route needs
      // its upstream, a credential its consumer), however slow the machine.
      const ttl = 2;
      await catalog.put('upstreams', 'short', { id: 'short' }, { ttl });
      await catalog.put('routes', 'uses-short', { id: 'uses-short', upstream_id: 'short' });
      await catalog.put('consumers', 'temp', { username: 'temp' }, { ttl });
      await catalog.put('credentials', 'temp/credentials/c', { id: 'c', key: 'temp-key' });
      const keptWithTtl = Date.now();
      await catalog.put('upstreams', 'kept', { id: 'kept' }, { ttl });
      await catalog.put('upstreams', 'kept', { id: 'kept', desc: 'no ttl now' });
      expect(catalog.snapshot().get('upstreams', 'short')?.expiresAt).to.be.a('number');
      expect(await waitFor(() => catalog.snapshot().get('upstreams', 'short') === undefined, 15_000), 'expired').to.equal(true);
      expect(await waitFor(() => catalog.snapshot().get('consumers', 'temp') === undefined, 15_000)).to.equal(true);
      expect(catalog.snapshot().get('credentials', 'temp/credentials/c'), 'dependent').to.equal(undefined);
      // What referred to it is left dangling, as a forced delete leaves it.
      expect(catalog.snapshot().get('routes', 'uses-short')).to.not.equal(undefined);
      expect(catalog.snapshot().get('upstreams', 'kept')?.expiresAt).to.equal(undefined);
      // Past the time its first ttl would have run out, and the expiry sweeps after it.
      await new Promise((r) => setTimeout(r, Math.max(0, keptWithTtl + ttl * 1000 + 400 - Date.now())));
      expect(catalog.snapshot().get('upstreams', 'kept')).to.not.equal(undefined);
      await catalog.put('consumers', 'reuse', { username: 'reuse', key: 'temp-key' });
    });

    it('expires a record whose ttl ran out while no gateway was running, at the next start', async () => {
      await catalog.put('routes', 'brief', { id: 'brief', uri: '/brief' }, { ttl: 0.2 });
      await catalog.close();
      await new Promise((r) => setTimeout(r, 300));
      catalog = await backend.open(true);
      await catalog.start();
      expect(await waitFor(() => catalog.snapshot().get('routes', 'brief') === undefined, 3000)).to.equal(true);
    });
  });
}

describe('catalog contract: redis claim index', () => {
  let catalog: RedisCatalog;
  const prefix = `claims${Date.now()}`;
  beforeEach(async () => {
    catalog = new RedisCatalog({ redis: { url: (await sharedRedis()).url, commandTimeout: 2 }, keyPrefix: prefix, logger, pollInterval: 0.1, claims, references });
    await catalog.start();
  });
  afterEach(() => catalog.close());

  it('refuses a claim held by a record older than the index, and frees one whose holder was deleted behind its back', async () => {
    const client = (await sharedRedis()).client();
    const stored = (username: string) => JSON.stringify({ createdIndex: 1, modifiedIndex: 1, create_time: 1, update_time: 1, value: { username, key: 'old-key' } });
    await client.hset(`{${prefix}}:consumers`, 'legacy', stored('legacy'));
    await client.incr(`{${prefix}}:revision`);
    expect(await waitFor(() => catalog.snapshot().get('consumers', 'legacy') !== undefined, 3000)).to.equal(true);
    const refused = await catalog.put('consumers', 'newcomer', { username: 'newcomer', key: 'old-key' }).catch((err: unknown) => err);
    expect(refused).to.be.instanceOf(CatalogConflictError);

    await catalog.put('consumers', 'indexed', { username: 'indexed', key: 'fresh-key' });
    await client.hdel(`{${prefix}}:consumers`, 'indexed');
    await client.incr(`{${prefix}}:revision`);
    expect(await waitFor(() => catalog.snapshot().get('consumers', 'indexed') === undefined, 3000)).to.equal(true);
    await catalog.put('consumers', 'successor', { username: 'successor', key: 'fresh-key' });
  });

  it('forgets a referrer deleted behind its back', async () => {
    const client = (await sharedRedis()).client();
    await catalog.put('upstreams', 'target', { id: 'target' });
    await catalog.put('routes', 'gone', { id: 'gone', upstream_id: 'target' });
    await client.hdel(`{${prefix}}:routes`, 'gone');
    await client.incr(`{${prefix}}:revision`);
    expect(await waitFor(() => catalog.snapshot().get('routes', 'gone') === undefined, 3000)).to.equal(true);
    expect(await catalog.delete('upstreams', 'target')).to.not.equal(undefined);
    expect(await client.zcard(`{${prefix}}:referrers`)).to.equal(0);
  });
});

