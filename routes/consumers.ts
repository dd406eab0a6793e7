/**
 * Consumers from the catalog snapshot, validated, with a credential index per auth plugin. Auth
 * lookups are served from memory, so a Redis outage never turns into "anonymous".
 */
import type { CatalogSnapshot, ClaimsOf, UniqueClaim } from '../core/catalog/types.js';
import type { ConsumerInfo } from '../core/context.js';
import type { ConsumerLookup } from '../core/plugin.js';
import type { Logger } from '../core/logger.js';
import type { EntryProblem } from '../core/status.js';
import type { PluginRegistry } from '../core/registry.js';
import { compile } from '../core/schema.js';
import { storedValue } from './checks.js';
import { consumerSchema } from './schemas.js';

const validateConsumer = compile(consumerSchema);

export class ConsumerDirectory implements ConsumerLookup {
  private consumers = new Map<string, ConsumerInfo>();
  private indexes = new Map<string, Map<string, ConsumerInfo>>();
  private source?: ReadonlyMap<string, unknown>;
  /** Consumers left out because their stored record is invalid (for /status). */
  problems: EntryProblem[] = [];

  constructor(
    private readonly registry: PluginRegistry,
    private readonly logger: Logger,
  ) {}

  /** Rebuilds from the snapshot when its consumers changed; returns whether anything changed. */
  update(snapshot: CatalogSnapshot): boolean {
    const records = snapshot.list('consumers');
    if (records === this.source) return false;
    this.source = records;
    const next = new Map<string, ConsumerInfo>();
    const problems: EntryProblem[] = [];
    const skip = (username: string, error: string) => {
      this.logger.error({ consumer: username, error }, 'invalid consumer in catalog; skipped');
      problems.push({ kind: 'consumers', id: username, error, effect: 'skipped' });
    };
    for (const [username, record] of records) {
      const value = storedValue(record.value);
      if (typeof value === 'string') {
        skip(username, value);
        continue;
      }
      const error = validateConsumer(value) ?? this.validatePlugins(value.plugins);
      if (error) {
        skip(username, error);
        continue;
      }
      const previous = this.consumers.get(username);
      next.set(
        username,
        previous && JSON.stringify(previous.plugins) === JSON.stringify(value.plugins ?? {}) && previous.groupId === value.group_id
          ? previous
          : Object.freeze({
              username,
              groupId: value.group_id === undefined ? undefined : String(value.group_id),
              labels: value.labels as Record<string, string> | undefined,
              plugins: (value.plugins ?? {}) as Record<string, unknown>,
            }),
      );
    }
    this.consumers = next;
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
      for (const consumer of this.consumers.values()) {
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

  private validatePlugins(plugins: unknown): string | undefined {
    if (!plugins) return undefined;
    for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
      const plugin = this.registry.get(name);
      const error = this.registry.validate(name, conf, plugin?.type === 'auth' ? 'consumer' : 'route', 'load');
      if (error) return error;
    }
    return undefined;
  }
}

/**
 * The credentials a consumer claims: for each auth plugin that names a `credentialField` (key-auth
 * and jwt-auth `key`), its value. Two consumers with one key would make authentication depend on
 * load order, so the catalog keeps each claim to one consumer.
 */
export function credentialClaims(registry: PluginRegistry): ClaimsOf {
  return (kind, value) => {
    const plugins = value.plugins;
    if (kind !== 'consumers' || typeof plugins !== 'object' || plugins === null) return [];
    const claims: UniqueClaim[] = [];
    for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
      const field = registry.get(name)?.credentialField;
      const credential = field && typeof conf === 'object' && conf !== null ? (conf as Record<string, unknown>)[field] : undefined;
      if (typeof credential === 'string') claims.push({ label: `${name} ${field}`, value: credential });
    }
    return claims;
  };
}
