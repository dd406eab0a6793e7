/**
 * The loaded plugin set: the built-ins plus custom plugins from the directories in `plugin_dirs`,
 * JavaScript or TypeScript (TypeScript goes through tsx: no build step). A reload re-reads the
 * enabled list and the directories, imports what was added or changed (by content digest), keeps
 * what did not change (so its routes keep their instances and MCP sessions), and falls back to
 * the last good version of a plugin that no longer loads, recording why.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from './logger.js';
import type { Plugin, PluginApi } from './plugin.js';
import { PluginLoadError, PluginRegistry } from './registry.js';
import { exposeSdkToPlugins } from './plugin-sdk.js';

const ENTRY_FILES = ['index.ts', 'index.mts', 'index.js', 'index.mjs'];
const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];
/** Names the Admin API uses under /plugins/ for itself. */
const RESERVED_NAMES = new Set(['list', 'reload', 'status']);

export interface PluginSettings {
  /** Enabled plugin names; null enables every built-in and every plugin found in the directories. */
  enabled: string[] | null;
  dirs: string[];
}

export interface PluginStatus {
  name: string;
  /** `builtin`, or the file a custom plugin was loaded from. */
  source: string;
  version?: string;
  priority?: number;
  /** Whether a version of it is serving. */
  active: boolean;
  loadedAt?: string;
  /** Why the last load failed (the previous good version, if any, keeps serving). */
  error?: string;
}

export interface ReloadReport {
  loaded: string[];
  unchanged: string[];
  removed: string[];
  failed: Array<{ name: string; error: string }>;
}

interface Custom {
  plugin: Plugin;
  file: string;
  digest: string;
  loadedAt: string;
}

export interface PluginSetOptions {
  builtins: readonly Plugin[];
  registry: PluginRegistry;
  api: PluginApi;
  logger: Logger;
  /** Re-read on every reload (the config file may have changed). */
  settings(): PluginSettings;
  /** Recompiles the routes whose plugins changed; resolves when they serve. */
  refreshRoutes(): Promise<void>;
  /** Public entry points besides `tollgate` that custom plugins import (`tollgate/kit` → its file). */
  sdkEntries?: Readonly<Record<string, string>>;
}

export class PluginSet {
  private customs = new Map<string, Custom>();
  private errors = new Map<string, { source: string; error: string }>();
  private queue: Promise<unknown> = Promise.resolve();
  private initialised = new Set<Plugin>();

  constructor(private readonly options: PluginSetOptions) {}

  /** Loads at start-up; a custom plugin that fails is logged and left out (APISIX does the same). */
  load(): Promise<ReloadReport> {
    return this.reload();
  }

  /** Serialized: concurrent reloads (an Admin call and a broadcast) run one after the other. */
  reload(): Promise<ReloadReport> {
    const run = this.queue.then(() => this.reloadNow());
    this.queue = run.catch(() => {});
    return run;
  }

  status(): PluginStatus[] {
    const out: PluginStatus[] = [];
    for (const plugin of this.options.registry.list()) {
      const custom = this.customs.get(plugin.name);
      out.push({
        name: plugin.name,
        source: custom?.file ?? 'builtin',
        version: plugin.version,
        priority: plugin.priority,
        active: true,
        loadedAt: custom?.loadedAt,
        error: this.errors.get(plugin.name)?.error,
      });
    }
    for (const [name, { source, error }] of this.errors) {
      if (!this.options.registry.has(name)) out.push({ name, source, active: false, error });
    }
    return out;
  }

  /** Calls every loaded plugin's destroy (gateway shutdown). */
  async destroyAll(): Promise<void> {
    for (const plugin of this.options.registry.list()) await this.destroy(plugin);
  }

  private async reloadNow(): Promise<ReloadReport> {
    const { builtins, registry, logger } = this.options;
    const settings = this.options.settings();
    const found = discover(settings.dirs);
    const builtinNames = new Set(builtins.map((p) => p.name));
    const wanted = settings.enabled ?? [...builtinNames, ...[...found.keys()].filter((n) => !builtinNames.has(n))];
    const report: ReloadReport = { loaded: [], unchanged: [], removed: [], failed: [] };
    const errors = new Map<string, { source: string; error: string }>();
    const next: Plugin[] = [];
    const nextCustoms = new Map<string, Custom>();

    for (const name of wanted) {
      const builtin = builtins.find((p) => p.name === name);
      if (builtin) {
        if (found.has(name)) errors.set(name, { source: found.get(name)!, error: `a custom plugin cannot replace the built-in ${name}` });
        next.push(builtin);
        continue;
      }
      const file = found.get(name);
      if (!file) {
        const error = `plugin ${name} is enabled but was not found in plugin_dirs`;
        errors.set(name, { source: '(not found)', error });
        report.failed.push({ name, error });
        continue;
      }
      const previous = this.customs.get(name);
      let digest: string;
      try {
        digest = digestOf(file);
      } catch (err) {
        digest = `unreadable:${(err as Error).message}`;
      }
      if (previous && previous.digest === digest && previous.file === file) {
        tryAdd(next, previous.plugin, this.options.api.config);
        nextCustoms.set(name, previous);
        report.unchanged.push(name);
        continue;
      }
      try {
        if (RESERVED_NAMES.has(name)) throw new PluginLoadError(`plugin name "${name}" is reserved by the Admin API`);
        const plugin = await importPlugin(file, this.options.sdkEntries);
        if (plugin?.name !== name) throw new PluginLoadError(`${file} exports a plugin named ${JSON.stringify(plugin?.name)}; it must be named ${name}`);
        tryAdd(next, plugin, this.options.api.config);
        nextCustoms.set(name, { plugin, file, digest, loadedAt: new Date().toISOString() });
        report.loaded.push(name);
      } catch (err) {
        const error = (err as Error).message;
        errors.set(name, { source: file, error });
        report.failed.push({ name, error });
        logger.error({ plugin: name, file, error }, previous ? 'plugin failed to load; its last good version keeps serving' : 'plugin failed to load');
        if (previous) {
          try {
            tryAdd(next, previous.plugin, this.options.api.config);
            nextCustoms.set(name, previous);
          } catch {
            // The last good version clashes with what loaded meanwhile: it cannot serve either.
          }
        }
      }
    }

    const before = registry.list();
    const fresh = next.filter((p) => !this.initialised.has(p));
    for (const plugin of fresh) {
      await plugin.init?.(this.options.api);
      this.initialised.add(plugin);
    }
    registry.replaceAll(next);
    this.customs = nextCustoms;
    this.errors = errors;
    await this.options.refreshRoutes();
    for (const plugin of before) {
      if (!next.includes(plugin)) {
        await this.destroy(plugin);
        if (!next.some((p) => p.name === plugin.name)) report.removed.push(plugin.name);
      }
    }
    if (report.loaded.length + report.removed.length + report.failed.length > 0) logger.info(report, 'plugins loaded');
    return report;
  }

  private async destroy(plugin: Plugin): Promise<void> {
    if (!this.initialised.delete(plugin)) return;
    try {
      await plugin.destroy?.(this.options.api);
    } catch (err) {
      this.options.logger.error({ err, plugin: plugin.name }, 'plugin destroy failed');
    }
  }
}

/** Adds `plugin` if it passes the contract against what is already in `list`; throws otherwise. */
function tryAdd(list: Plugin[], plugin: Plugin, config: PluginApi['config']): void {
  PluginRegistry.check(plugin, list, config);
  list.push(plugin);
}

/** name → entry file: `<dir>/<name>/index.ts|js` or `<dir>/<name>.ts|js`. */
function discover(dirs: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const dir of dirs) {
    const base = resolve(dir);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      if (entry.isDirectory()) {
        const index = ENTRY_FILES.map((f) => join(base, entry.name, f)).find((f) => existsSync(f));
        if (index && !found.has(entry.name)) found.set(entry.name, index);
      } else {
        const ext = MODULE_EXTENSIONS.find((e) => entry.name.endsWith(e) && !entry.name.endsWith(`.test${e}`) && !entry.name.endsWith(`.d${e}`));
        const name = ext ? entry.name.slice(0, -ext.length) : undefined;
        if (name && !found.has(name)) found.set(name, join(base, entry.name));
      }
    }
  }
  return found;
}

/** A digest of the plugin's source: its folder's module files, or the single file. */
function digestOf(file: string): string {
  const hash = createHash('sha256');
  const folder = ENTRY_FILES.some((f) => file.endsWith(`/${f}`)) ? file.slice(0, file.lastIndexOf('/')) : undefined;
  const files = folder ? listSources(folder) : [file];
  for (const f of files) hash.update(f).update(readFileSync(f));
  return hash.digest('hex');
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(path));
    else if (/\.(m?[jt]s|json)$/.test(entry.name) && statSync(path).isFile()) out.push(path);
  }
  return out;
}

/** A fresh import every time (tsx gives each call its own module namespace). */
async function importPlugin(file: string, sdkEntries: Readonly<Record<string, string>> | undefined): Promise<Plugin> {
  // Installed on first use, not at start: the resolve hook runs Node's module-hooks thread (a second
  // V8 isolate), which a gateway without custom plugins should not carry on its core.
  exposeSdkToPlugins(sdkEntries);
  // A dynamic import picks tsx's ESM build even when this module itself was loaded as CommonJS.
  const { tsImport } = await import('tsx/esm/api');
  const mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown };
  let plugin = mod.default as { default?: unknown } | undefined;
  // A TypeScript file outside an ESM package arrives as CommonJS: its default is one level down.
  if (plugin && typeof plugin === 'object' && 'default' in plugin && !('name' in plugin)) plugin = plugin.default as typeof plugin;
  if (!plugin || typeof plugin !== 'object') throw new PluginLoadError(`${file} has no default export (export default definePlugin({...}))`);
  return plugin as Plugin;
}
