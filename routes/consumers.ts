/**
 * Consumers from the catalog snapshot, validated, with a credential index per auth plugin and what
 * each consumer adds to a route's chain once authenticated: its consumer group's plugins, then its
 * own over them (APISIX: Consumer > Consumer Group > Route). Auth lookups are served from memory,
 * so a Redis outage never turns into "anonymous".
 *
 * A consumer's credentials (`/consumers/{username}/credentials/{id}`, stored under the catalog id
 * `{username}/credentials/{id}`) are more keys of it: each is found as the consumer itself (its
 * group, labels and plugins), with the credential's auth config in place of the consumer's and
 * `credentialId` set, as APISIX clones the consumer for each credential. Several keys per
 * consumer make rotation possible without downtime: add the new one, move clients, delete the old.
 */
import type { CatalogRecord, CatalogSnapshot, ClaimsOf, RecordRef, UniqueClaim } from '../core/catalog/types.js';
import type { ConsumerInfo } from '../core/context.js';
import type { ConsumerLookup } from '../core/plugin.js';
import type { Logger } from '../core/logger.js';
import type { EntryProblem } from '../core/status.js';
import type { PluginRegistry } from '../core/registry.js';
import { setOwn } from '../core/own.js';
import { isSecretRef, resolveSecretRef } from '../core/secret-refs.js';
import { storedValue } from './checks.js';
import { RESOURCE_VALIDATORS } from './schemas.js';

const validateConsumer = RESOURCE_VALIDATORS.consumers;
const validateGroup = RESOURCE_VALIDATORS.consumer_groups;
const validateCredential = RESOURCE_VALIDATORS.credentials;

const CREDENTIALS = '/credentials/';

/** The catalog id of consumer `username`'s credential `id`. */
export function credentialKey(username: string, id: string): string {
  return `${username}${CREDENTIALS}${id}`;
}

/** The consumer a credential's catalog id names (undefined: not a credential id). */
export function credentialOwner(key: string): string | undefined {
  const at = key.indexOf(CREDENTIALS);
  return at > 0 ? key.slice(0, at) : undefined;
}

/** The credential's own id within its consumer. */
export function credentialIdOf(key: string): string {
  const at = key.indexOf(CREDENTIALS);
  return at < 0 ? key : key.slice(at + CREDENTIALS.length);
}

/** APISIX's words for an auth key (a claim of `credentialClaims`) that `holder` already holds. */
export function duplicateKeyMessage(claim: UniqueClaim, holder: RecordRef): string {
  const [plugin, field] = claim.label.split(' ');
  const owner =
    holder.kind === 'credentials' ? `credential: ${credentialIdOf(holder.id)} of consumer: ${credentialOwner(holder.id)}` : `consumer: ${holder.id}`;
  return `duplicate ${field} of plugin ${plugin} found with ${owner}`;
}

type PluginMap = Readonly<Record<string, unknown>>;

/** What an authenticated consumer adds to a route's chain (APISIX's merge_consumer_route). */
export interface ConsumerPlugins {
  /**
   * The group's plugins, then the consumer's own over them. Auth plugins are left out: they have
   * run by the time a consumer is known. One object per consumer and group version, so a chain
   * built from it can be reused while it stays the same.
   */
  readonly plugins: PluginMap;
  /** Why they cannot be known (the consumer's group is missing or invalid): its requests answer 503. */
  readonly problem?: string;
}

export class ConsumerDirectory implements ConsumerLookup {
  private consumers = new Map<string, ConsumerInfo>();
  /** Each credential as its consumer, by credential catalog id. */
  private credentials = new Map<string, ConsumerInfo>();
  private profiles = new Map<string, ConsumerPlugins>();
  /** For consumers no longer in the directory (a request in flight when one was deleted). */
  private readonly formerProfiles = new WeakMap<ConsumerInfo, ConsumerPlugins>();
  private indexes = new Map<string, Map<string, ConsumerInfo>>();
  private sources?: readonly ReadonlyMap<string, unknown>[];
  /** Consumers and groups that cannot be used as stored (for /status). */
  problems: EntryProblem[] = [];

  constructor(
    private readonly registry: PluginRegistry,
    private readonly logger: Logger,
  ) {}

  /** Rebuilds from the snapshot when its consumers, groups or credentials changed; returns whether anything changed. */
  update(snapshot: CatalogSnapshot): boolean {
    const records = snapshot.list('consumers');
    const groupRecords = snapshot.list('consumer_groups');
    const credentialRecords = snapshot.list('credentials');
    const sources = [records, groupRecords, credentialRecords];
    if (this.sources?.every((source, i) => source === sources[i])) return false;
    this.sources = sources;
    const problems: EntryProblem[] = [];
    const groups = this.loadGroups(groupRecords, problems);
    const next = new Map<string, ConsumerInfo>();
    const profiles = new Map<string, ConsumerPlugins>();
    for (const [username, record] of records) {
      const value = this.loadConsumer(username, record, problems);
      if (!value) continue;
      const consumer = this.consumerInfo(username, value);
      next.set(username, consumer);
      const profile = this.profileOf(consumer, groups);
      if (profile.problem) {
        this.logger.error({ consumer: username, error: profile.problem }, "consumer's group cannot be used; its requests answer 503");
        problems.push({ kind: 'consumers', id: username, error: profile.problem, effect: 'answers 503' });
      }
      profiles.set(username, profile);
    }
    this.credentials = this.loadCredentials(credentialRecords, next, problems);
    this.consumers = next;
    this.profiles = profiles;
    this.problems = problems;
    this.indexes = new Map();
    return true;
  }

  get(username: string): ConsumerInfo | undefined {
    return this.consumers.get(username);
  }

  find(plugin: string, field: string, value: string): ConsumerInfo | undefined {
    const key = `${plugin}\u0000${field}`;
    let index = this.indexes.get(key);
    if (!index) {
      index = new Map();
      for (const consumer of [...this.consumers.values(), ...this.credentials.values()]) {
        const conf = consumer.plugins[plugin] as Record<string, unknown> | undefined;
        const credential = conf?.[field];
        if (typeof credential === 'string') index.set(credential, consumer);
      }
      this.indexes.set(key, index);
    }
    return index.get(value);
  }

  all(): IterableIterator<ConsumerInfo> {
    return this.consumers.values();
  }

  /** What `consumer` adds to a route's chain once it is authenticated. */
  pluginsAfterAuth(consumer: ConsumerInfo): ConsumerPlugins {
    const current = this.profiles.get(consumer.username);
    if (current && this.consumers.get(consumer.username) !== undefined) return current;
    let former = this.formerProfiles.get(consumer);
    if (!former) {
      former = Object.freeze({ plugins: this.withoutAuth(consumer.plugins) });
      this.formerProfiles.set(consumer, former);
    }
    return former;
  }

  private loadGroups(records: ReadonlyMap<string, CatalogRecord>, problems: EntryProblem[]): Map<string, PluginMap | string> {
    const groups = new Map<string, PluginMap | string>();
    for (const [id, record] of records) {
      const value = storedValue(record.value);
      const error = typeof value === 'string' ? value : (validateGroup(value) ?? this.validatePlugins(value.plugins, 'route'));
      if (error !== undefined || typeof value === 'string') {
        const message = error ?? 'invalid';
        this.logger.error({ consumerGroup: id, error: message }, 'invalid consumer group in catalog; its consumers answer 503');
        problems.push({ kind: 'consumer_groups', id, error: message, effect: 'answers 503' });
        groups.set(id, message);
        continue;
      }
      groups.set(id, this.withoutAuth(value.plugins as PluginMap));
    }
    return groups;
  }

  /**
   * Each credential whose consumer is loaded, as that consumer found through it. A credential
   * of no consumer (written straight into the store) or an invalid one is left out, logged and
   * listed: it never authenticates anyone.
   */
  private loadCredentials(records: ReadonlyMap<string, CatalogRecord>, consumers: ReadonlyMap<string, ConsumerInfo>, problems: EntryProblem[]): Map<string, ConsumerInfo> {
    const out = new Map<string, ConsumerInfo>();
    for (const [key, record] of records) {
      const owner = credentialOwner(key);
      const consumer = owner === undefined ? undefined : consumers.get(owner);
      const value = storedValue(record.value);
      let error = consumer ? undefined : `its consumer ${owner ?? '(none)'} is not loaded`;
      if (error === undefined) error = typeof value === 'string' ? value : (validateCredential(value) ?? this.resolveSecrets(value) ?? this.credentialProblem(value.plugins));
      if (error !== undefined || typeof value === 'string' || !consumer) {
        this.logger.error({ credential: key, error }, 'invalid credential in catalog; skipped');
        problems.push({ kind: 'credentials', id: key, error: error ?? 'invalid', effect: 'skipped' });
        continue;
      }
      const plugins = { ...this.withoutAuth(consumer.plugins), ...(value.plugins as PluginMap | undefined) };
      const credentialId = credentialIdOf(key);
      const previous = this.credentials.get(key);
      const same =
        previous &&
        previous.groupId === consumer.groupId &&
        previous.labels === consumer.labels &&
        JSON.stringify(previous.plugins) === JSON.stringify(plugins);
      out.set(key, same ? previous : Object.freeze({ username: consumer.username, groupId: consumer.groupId, credentialId, labels: consumer.labels, plugins }));
    }
    return out;
  }

  /**
   * Replaces APISIX secret references (`$env://NAME`) in the auth plugins' configs of a consumer or
   * credential by their values, from the gateway's environment, in place; returns why one cannot
   * be resolved. Such a holder is skipped: its literal text must never work as a credential
   * (a client that knows the reference would otherwise authenticate with it).
   */
  private resolveSecrets(value: Record<string, unknown>): string | undefined {
    const plugins = value.plugins as Record<string, unknown> | undefined;
    for (const [name, conf] of Object.entries(plugins ?? {})) {
      if (this.registry.get(name)?.type !== 'auth') continue;
      const resolved = resolveSecretRefs(conf, `plugins.${name}`);
      if (resolved instanceof Unresolved) return resolved.reason;
      (plugins as Record<string, unknown>)[name] = resolved;
    }
    return undefined;
  }

  /** Why a credential's plugins cannot authenticate anyone (APISIX: auth plugins only, one at most). */
  private credentialProblem(plugins: unknown): string | undefined {
    for (const name of Object.keys((plugins as Record<string, unknown> | undefined) ?? {})) {
      if (this.registry.has(name) && this.registry.get(name)?.type !== 'auth') return 'only supports auth type plugins in consumer credential';
    }
    return this.validatePlugins(plugins, 'consumer');
  }

  /** A consumer's value with its plugins' defaults filled, or undefined (logged) when it is invalid. */
  private loadConsumer(username: string, record: CatalogRecord, problems: EntryProblem[]): Record<string, unknown> | undefined {
    const value = storedValue(record.value);
    const error =
      typeof value === 'string' ? value : (validateConsumer(value) ?? this.resolveSecrets(value) ?? this.validatePlugins(value.plugins, 'consumer'));
    if (error === undefined && typeof value !== 'string') return value;
    this.logger.error({ consumer: username, error }, 'invalid consumer in catalog; skipped');
    problems.push({ kind: 'consumers', id: username, error: error ?? 'invalid', effect: 'skipped' });
    return undefined;
  }

  /** The consumer's info, the previous object when nothing an auth plugin reads changed. */
  private consumerInfo(username: string, value: Record<string, unknown>): ConsumerInfo {
    const previous = this.consumers.get(username);
    const groupId = value.group_id === undefined ? undefined : String(value.group_id);
    if (
      previous &&
      previous.groupId === groupId &&
      JSON.stringify(previous.plugins) === JSON.stringify(value.plugins ?? {}) &&
      JSON.stringify(previous.labels) === JSON.stringify(value.labels)
    ) {
      return previous;
    }
    return Object.freeze({
      username,
      groupId,
      labels: value.labels as Record<string, string> | undefined,
      plugins: (value.plugins ?? {}) as Record<string, unknown>,
    });
  }

  /** Group plugins, then the consumer's own; the previous object when they did not change. */
  private profileOf(consumer: ConsumerInfo, groups: ReadonlyMap<string, PluginMap | string>): ConsumerPlugins {
    let profile: ConsumerPlugins;
    const group = consumer.groupId === undefined ? {} : groups.get(consumer.groupId);
    if (group === undefined) profile = { plugins: {}, problem: `consumer group ${consumer.groupId} does not exist` };
    else if (typeof group === 'string') profile = { plugins: {}, problem: `consumer group ${consumer.groupId}: ${group}` };
    else profile = { plugins: { ...group, ...this.withoutAuth(consumer.plugins) } };
    const previous = this.profiles.get(consumer.username);
    if (previous && previous.problem === profile.problem && JSON.stringify(previous.plugins) === JSON.stringify(profile.plugins)) return previous;
    return Object.freeze(profile);
  }

  private withoutAuth(plugins: PluginMap | undefined): PluginMap {
    const out: Record<string, unknown> = {};
    for (const [name, conf] of Object.entries(plugins ?? {})) {
      if (this.registry.get(name)?.type !== 'auth') out[name] = conf;
    }
    return out;
  }

  /** Checks stored plugin configs as loaded (defaults filled); on a consumer, auth plugins hold credentials. */
  private validatePlugins(plugins: unknown, holder: 'consumer' | 'route'): string | undefined {
    if (!plugins) return undefined;
    for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
      const auth = holder === 'consumer' && this.registry.get(name)?.type === 'auth';
      const error = this.registry.validate(name, conf, auth ? 'consumer' : 'route', 'load');
      if (error) return error;
    }
    return undefined;
  }
}

/**
 * The keys a consumer or a credential claims: for each auth plugin that names a `credentialField`
 * (key-auth and jwt-auth `key`), its value. Two holders of one key would make authentication
 * depend on load order, so the catalog keeps each claim to one consumer or credential.
 */
export function credentialClaims(registry: PluginRegistry): ClaimsOf {
  return (kind, value) => {
    const plugins = value.plugins;
    if ((kind !== 'consumers' && kind !== 'credentials') || typeof plugins !== 'object' || plugins === null) return [];
    const claims: UniqueClaim[] = [];
    for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
      const field = registry.get(name)?.credentialField;
      const credential = field && typeof conf === 'object' && conf !== null ? (conf as Record<string, unknown>)[field] : undefined;
      // One scope for consumers and credentials: a key authenticates one of them, whichever holds it.
      if (typeof credential === 'string') claims.push({ scope: 'consumers', label: `${name} ${field}`, value: credential });
    }
    return claims;
  };
}

/**
 * `value` with every secret reference replaced by what it stands for (core/secret-refs.ts), or
 * why one cannot be: an unset variable, or a `$secret://` manager Tollgate does not have.
 */
function resolveSecretRefs(value: unknown, at: string): unknown {
  if (typeof value === 'string') {
    if (!isSecretRef(value)) return value;
    const resolved = resolveSecretRef(value);
    return 'value' in resolved ? resolved.value : new Unresolved(`${at}: ${resolved.error}`);
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const [i, item] of value.entries()) {
      const resolved = resolveSecretRefs(item, `${at}[${i}]`);
      if (resolved instanceof Unresolved) return resolved;
      out.push(resolved);
    }
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(value)) {
      const resolved = resolveSecretRefs(item, `${at}.${k}`);
      if (resolved instanceof Unresolved) return resolved;
      setOwn(out, k, resolved);
    }
    return out;
  }
  return value;
}

class Unresolved {
  constructor(readonly reason: string) {}
}
