/**
 * The catalog: routes, services, upstreams, consumers, global rules, plugin configs, plugin
 * metadata, consumer groups, consumers' credentials and MCP servers. One interface, two backends (embedded file, Redis) that pass one
 * contract suite. Readers work from immutable snapshots; a change produces a new snapshot, never
 * an edit in place.
 */

/**
 * Every kind of record. New kinds go at the end: the Redis catalog's reference index names a
 * referrer's kind by its position here (references.ts), so positions never change.
 */
export const RESOURCE_KINDS = [
  'routes',
  'services',
  'upstreams',
  'consumers',
  'global_rules',
  'plugin_configs',
  'plugin_metadata',
  'consumer_groups',
  'credentials',
  'mcp_servers',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/**
 * Kinds whose records a plugin gives meaning to (core/plugin.ts, `resources`): the catalog stores
 * and follows them like any other, the Admin API serves them while a loaded plugin defines them.
 */
export const PLUGIN_RESOURCE_KINDS = ['mcp_servers'] as const;
export type PluginResourceKind = (typeof PLUGIN_RESOURCE_KINDS)[number];

/** Kinds the route model defines (routes/schemas.ts). */
export type ModelResourceKind = Exclude<ResourceKind, 'plugin_metadata' | PluginResourceKind>;

export function isPluginResourceKind(kind: string): kind is PluginResourceKind {
  return (PLUGIN_RESOURCE_KINDS as readonly string[]).includes(kind);
}

/** Kinds whose records carry no `create_time` / `update_time` (APISIX keeps none on plugin metadata). */
export const UNTIMED_KINDS: ReadonlySet<ResourceKind> = new Set(['plugin_metadata']);

export interface CatalogRecord {
  /** The resource as the Admin API shows it, `id`, `create_time` and `update_time` (but see UNTIMED_KINDS) included. */
  readonly value: Readonly<Record<string, unknown>>;
  readonly createdIndex: number;
  readonly modifiedIndex: number;
  /** When it is deleted by itself (ms since the epoch), if it was written with a ttl. */
  readonly expiresAt?: number;
}

export interface CatalogSnapshot {
  /** Revision of the last change this snapshot includes. */
  readonly revision: number;
  get(kind: ResourceKind, id: string): CatalogRecord | undefined;
  list(kind: ResourceKind): ReadonlyMap<string, CatalogRecord>;
}

export interface CatalogChange {
  readonly kind: ResourceKind;
  readonly id: string;
  /** Undefined when the resource was deleted. */
  readonly record?: CatalogRecord;
}

export interface CatalogHealth {
  /** A snapshot has been loaded at least once. */
  loaded: boolean;
  /** The store is reachable right now; when false, writes fail and reads serve the last snapshot. */
  connected: boolean;
  revision: number;
  lastError?: string;
  /** Failed attempts to follow the store since the first load (a reload, a poll, a write); for the metrics. */
  syncErrors?: number;
  /**
   * The store lost the catalog (a Redis restarted without persistence) and this gateway keeps
   * serving its snapshot instead of an empty one; absent when the store holds our catalog.
   */
  storeReset?: StoreReset;
  /** Store resets this gateway detected, and how many of them it restored from its snapshot. */
  resets?: { detected: number; restored: number };
}

export interface StoreReset {
  /** When this gateway noticed (ISO 8601). */
  since: string;
  /** What the store holds now, against the snapshot served. */
  storeRevision: number;
  snapshotRevision: number;
  /** Whether this gateway writes its snapshot back (`catalog.restore_on_reset`). */
  restore: boolean;
}

/**
 * A value at most one record may hold within a scope, e.g. a consumer's key-auth key. Backends
 * check and record claims in the same atomic step as the write, so parallel writers cannot both
 * win.
 */
export interface UniqueClaim {
  /**
   * Where the claim is unique: the kind of the record making it unless set. Records of several
   * kinds may claim in one scope (a credential's key-auth key in `consumers`, the consumers').
   */
  readonly scope?: ResourceKind;
  /** What is claimed, for messages: `key-auth key`. Claims are unique per scope and label. */
  readonly label: string;
  readonly value: string;
}

/** The claims a record makes (supplied by the composition root, which knows the plugins). */
export type ClaimsOf = (kind: ResourceKind, value: Readonly<Record<string, unknown>>) => readonly UniqueClaim[];

/** A record, by kind and id. */
export interface RecordRef {
  readonly kind: ResourceKind;
  readonly id: string;
}

/**
 * A reference as a record makes it. `optional`: the target need not exist when the record is
 * written (a plugin looks it up per request and answers its own error, as traffic-split's
 * `upstream_id`), but it is not deleted while the record refers to it.
 */
export interface Reference extends RecordRef {
  readonly optional?: boolean;
}

/**
 * The records a record of `kind` refers to (a route's `upstream_id`, say), supplied by the
 * composition root, which knows the route model. Backends check in the write's atomic step that
 * every record a write refers to exists, and that a record being deleted is referred to by none
 * (unless forced, or it belongs to the record: see `Cascades`), so a concurrent write cannot slip
 * in between the check and the write.
 */
export type ReferencesOf = (kind: ResourceKind, value: Readonly<Record<string, unknown>>, id: string) => readonly Reference[];

/**
 * Records that belong to the record they refer to: for a kind, the kinds whose records referring
 * to one of its records are deleted with it, in the same atomic step (a consumer's credentials).
 * One level deep: what a dependent record belongs to is never itself a dependent.
 */
export type Cascades = Partial<Record<ResourceKind, readonly ResourceKind[]>>;

export interface PutOptions {
  /**
   * Seconds after which the record is deleted by itself (APISIX's `?ttl=`, an etcd lease): with
   * its dependents, and leaving what refers to it dangling, as a forced delete would. A write
   * without it keeps the record until it is deleted.
   */
  ttl?: number;
  /**
   * Timestamps the write sets itself (an Admin PATCH naming `create_time` or `update_time`, as
   * APISIX allows); otherwise create_time is kept from the record it replaces (or now) and
   * update_time is now. Whole seconds.
   */
  times?: { create_time?: number; update_time?: number };
}

export interface DeleteOptions {
  /** Delete even if other records still refer to it (APISIX's `?force=true`); they then dangle. */
  force?: boolean;
}

export interface PutResult {
  record: CatalogRecord;
  /** True when the id did not exist before (Admin API answers 201 rather than 200). */
  created: boolean;
}

/** `changes` is 'all' after a full reload (reconnect, revision gap). */
export type ChangeListener = (snapshot: CatalogSnapshot, changes: readonly CatalogChange[] | 'all') => void;

/** Events every gateway following a catalog must learn about (besides resource changes). */
export type CatalogEvent = 'plugins-reload';

export interface Catalog {
  readonly backend: 'embedded' | 'redis';
  /** Loads the first snapshot and starts following changes. */
  start(): Promise<void>;
  snapshot(): CatalogSnapshot;
  /**
   * Stores `value` (without `create_time`/`update_time`, which the catalog sets, keeping the
   * original create time on replace). Throws CatalogUnavailableError when the store is down,
   * CatalogConflictError when another record holds one of its claims, CatalogReferenceError when
   * a record it refers to does not exist.
   */
  put(kind: ResourceKind, id: string, value: Record<string, unknown>, options?: PutOptions): Promise<PutResult>;
  /**
   * Returns the deleted record, or undefined when there was none; its dependents (`Cascades`)
   * are deleted with it. Throws CatalogInUseError when another record refers to it (without
   * `force`).
   */
  delete(kind: ResourceKind, id: string, options?: DeleteOptions): Promise<CatalogRecord | undefined>;
  /** A fresh id for POST: 20 zero-padded digits, as APISIX generates. */
  nextId(): Promise<string>;
  onChange(listener: ChangeListener): () => void;
  /**
   * Tells every gateway following this catalog (this one included) that `event` happened. Events
   * are counted in the store, so a gateway that missed the message (a reconnect) still learns it.
   */
  broadcast(event: CatalogEvent): Promise<void>;
  onBroadcast(listener: (event: CatalogEvent) => void): () => void;
  health(): CatalogHealth;
  close(): Promise<void>;
}

export class CatalogUnavailableError extends Error {
  override name = 'CatalogUnavailableError';
}

/** A write refused because another record already holds one of its claims. */
export class CatalogConflictError extends Error {
  override name = 'CatalogConflictError';

  constructor(
    readonly kind: ResourceKind,
    readonly claim: UniqueClaim,
    /** The record holding it. */
    readonly holder: RecordRef,
  ) {
    super(`duplicate ${claim.label} found with ${holder.kind} ${holder.id}`);
  }
}

/** A write refused because a record it refers to does not exist. */
export class CatalogReferenceError extends Error {
  override name = 'CatalogReferenceError';

  constructor(readonly missing: RecordRef) {
    super(`${missing.kind} ${missing.id} does not exist`);
  }
}

/** A delete refused because another record still refers to the record. */
export class CatalogInUseError extends Error {
  override name = 'CatalogInUseError';

  constructor(
    readonly target: RecordRef,
    /** One of the records referring to it. */
    readonly user: RecordRef,
  ) {
    super(`${user.kind} ${user.id} still refers to ${target.kind} ${target.id}`);
  }
}

export function formatGeneratedId(n: number): string {
  return String(n).padStart(20, '0');
}
