/**
 * Global rules, merged into one chain that runs before every route's in each phase (APISIX: a
 * plugin named by two rules is dropped; the Admin API refuses that write). What cannot run fails
 * closed as fail-closed.ts decides: a rule or plugin that could refuse requests and cannot run
 * puts a fence at the head of the chain, so every request answers 503 until it is fixed; one that
 * only observes is skipped. Either way it is logged and listed on /status.
 */
import type { CatalogRecord, CatalogSnapshot } from '../core/catalog/types.js';
import { GLOBAL_RULES_ROUTE_ID } from '../core/context.js';
import { ownValue } from '../core/own.js';
import { buildChain, type Chain, type ChainEntry } from '../core/pipeline.js';
import type { Plugin } from '../core/plugin.js';
import { isDisabled } from '../core/registry.js';
import type { EntryProblem } from '../core/status.js';
import { createEntries, type CompileDeps, type PluginMap } from './compiler.js';
import { canRefuse, globalRuleFence } from './fail-closed.js';

export interface GlobalRules {
  /** Which rule versions this was built from. */
  readonly fingerprint: string;
  readonly chain: Chain;
  readonly problems: readonly EntryProblem[];
  /** The loaded version of every plugin the rules name (undefined: not loaded), to notice a reload. */
  readonly pluginsUsed: ReadonlyMap<string, Plugin | undefined>;
}

export const NO_GLOBAL_RULES: GlobalRules = { fingerprint: '', chain: buildChain([]), problems: [], pluginsUsed: new Map() };

const GLOBAL_ROUTE = Object.freeze({ id: GLOBAL_RULES_ROUTE_ID, record: Object.freeze({}) });

/**
 * The global chain of `snapshot`; `previous` when neither the rules nor the plugins they name
 * changed (their instances, a global limit's counters say, live on). `load` validates a rule.
 */
export function compileGlobalRules(
  snapshot: CatalogSnapshot,
  previous: GlobalRules,
  deps: CompileDeps,
  load: (id: string) => Record<string, unknown> | string,
): GlobalRules {
  const rules = [...snapshot.list('global_rules')].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const fingerprint = rules.map(([id, r]) => `${id}@${r.modifiedIndex}`).join(',');
  const validated = rules.map(([id, record]) => ({ id, record, rule: load(id) }));
  if (fingerprint === previous.fingerprint && samePlugins(previous.pluginsUsed, deps)) return previous;

  const { registry, logger } = deps;
  const problems: EntryProblem[] = [];
  const fences: string[] = [];
  const pluginsUsed = new Map<string, Plugin | undefined>();
  const failed = (id: string, error: string, names: readonly string[] | undefined) => {
    const refusing = names === undefined || names.some((name) => canRefuse(registry.get(name)));
    if (refusing) {
      fences.push(`global rule ${id}: ${error}`);
      logger.error({ globalRule: id, plugins: names, error }, 'global rule cannot run and could refuse requests: every request answers 503 until it is fixed');
    } else {
      logger.error({ globalRule: id, plugins: names, error }, 'global rule plugin cannot run; it only observes requests, skipped');
    }
    problems.push({ kind: 'global_rules', id, error, effect: refusing ? 'every request answers 503' : 'skipped' });
  };

  const owners = new Map<string, string[]>();
  const merged = new Map<string, unknown>();
  for (const { id, record, rule } of validated) {
    const names = pluginNames(record);
    for (const name of names ?? []) pluginsUsed.set(name, registry.get(name));
    if (typeof rule === 'string') {
      failed(id, rule, names);
      continue;
    }
    for (const [name, conf] of Object.entries(rule.plugins as PluginMap)) {
      owners.set(name, [...(owners.get(name) ?? []), id]);
      merged.set(name, conf);
    }
  }
  for (const [name, ids] of owners) {
    if (ids.length < 2) continue;
    merged.delete(name);
    failed(ids[0], `plugin ${name} is configured in more than one global rule (${ids.join(', ')})`, [name]);
  }
  const entries: ChainEntry[] = [];
  for (const [name, conf] of merged) {
    try {
      entries.push(...createEntries(deps, { [name]: conf }, GLOBAL_ROUTE, false).filter((e) => !e.plugin.content));
    } catch (err) {
      failed(owners.get(name)![0], (err as Error).message, [name]);
    }
  }
  if (fences.length > 0) entries.push(globalRuleFence(fences.join('; ')));
  return { fingerprint, chain: buildChain(entries), problems, pluginsUsed };
}

/** The names of the enabled plugins a stored rule holds; undefined when they cannot be read. */
function pluginNames(record: CatalogRecord): string[] | undefined {
  const plugins = ownValue(record.value, 'plugins');
  if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) return undefined;
  return Object.entries(plugins).filter(([, conf]) => !isDisabled(conf)).map(([name]) => name);
}

function samePlugins(used: ReadonlyMap<string, Plugin | undefined>, { registry }: CompileDeps): boolean {
  for (const [name, plugin] of used) if (registry.get(name) !== plugin) return false;
  return true;
}
