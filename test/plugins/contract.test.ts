/**
 * One contract suite over every built-in plugin: name equals folder, unique priority, schemas
 * compile and refuse unknown fields, only known phases, auth plugins say where they read
 * credentials, and init + destroy leave no handles.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../core/config.js';
import { declaredCredentials } from '../../core/credentials.js';
import { createLogger } from '../../core/logger.js';
import { GatewayMetrics } from '../../core/metrics.js';
import type { PluginApi } from '../../core/plugin.js';
import { createPluginState } from '../../core/plugin-state.js';
import { RedisPool } from '../../core/redis.js';
import { PluginLoadError, PluginRegistry } from '../../core/registry.js';
import { ToolCallFeed } from '../../core/tool-calls.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT } from '../helpers/gateway.js';

/** The smallest valid config of plugins whose schema requires fields (APISIX's `required`). */
const MINIMAL_CONFS: Record<string, unknown> = {
  'openid-connect': { discovery: 'https://as.example.com/.well-known/openid-configuration', use_jwks: true, resource: 'https://gw.example.com/mcp' },
};

describe('plugin contract (every built-in plugin)', () => {
  const config = loadConfig({ env: {} });

  it('registers them all together: unique names and priorities, known phases, compiling schemas', () => {
    const registry = new PluginRegistry(config);
    for (const plugin of BUILTIN_PLUGINS) registry.register(plugin);
    expect(registry.list()).to.have.length(BUILTIN_PLUGINS.length);
  });

  it('refuses an auth plugin that does not say where it reads credentials (the logs could not redact them)', () => {
    const registry = new PluginRegistry(config);
    const silentAuth = {
      name: 'silent-auth',
      version: '1.0.0',
      priority: 7,
      type: 'auth' as const,
      schema: { type: 'object' },
      consumerSchema: { type: 'object', properties: { key: { type: 'string' } } },
    };
    expect(() => registry.register(silentAuth)).to.throw(PluginLoadError, /auth plugins must declare credentials\(conf\)/);
    expect(() => registry.register({ ...silentAuth, credentials: () => ({ headers: ['x-key'] }) })).to.not.throw();
  });

  it('refuses companion paths without the handler that answers them, and the other way round', () => {
    const registry = new PluginRegistry(config);
    const base = { name: 'well-known', version: '1.0.0', priority: 9, schema: { type: 'object' } };
    const message = /companionPaths and serveCompanion are functions, declared together/;
    expect(() => registry.register({ ...base, companionPaths: () => ['/.well-known/x'] })).to.throw(PluginLoadError, message);
    expect(() => registry.register({ ...base, serveCompanion: () => {} })).to.throw(PluginLoadError, message);
    expect(() => registry.register({ ...base, companionPaths: () => ['/.well-known/x'], serveCompanion: () => {} })).to.not.throw();
  });

  it('refuses observesOnly on a plugin that could refuse requests by answering them or authenticating', () => {
    const registry = new PluginRegistry(config);
    const base = { name: 'quiet-one', version: '1.0.0', priority: 8, schema: { type: 'object' }, observesOnly: true };
    const message = /observesOnly cannot be declared by a plugin that answers requests \(content\), authenticates or reads credentials/;
    expect(() => registry.register({ ...base, content: () => {} })).to.throw(PluginLoadError, message);
    expect(() => registry.register({ ...base, credentials: () => ({ headers: ['x-key'] }) })).to.throw(PluginLoadError, message);
    expect(() => registry.register({ ...base, observesOnly: 'yes' as unknown as boolean })).to.throw(PluginLoadError, /observesOnly must be a boolean/);
    expect(() => registry.register({ ...base, access: () => {}, log: () => {} })).to.not.throw();
  });

  for (const plugin of BUILTIN_PLUGINS) {
    describe(plugin.name, () => {
      it('lives in plugins/<name>/index.ts', () => {
        expect(existsSync(join(REPO_ROOT, 'plugins', plugin.name, 'index.ts'))).to.equal(true);
      });

      it('refuses unknown fields in its config', () => {
        const registry = new PluginRegistry(config);
        registry.register(plugin);
        expect(registry.validate(plugin.name, { surely_not_a_field: 1 }, 'route')).to.be.a('string');
        if (plugin.consumerSchema) expect(registry.validate(plugin.name, { surely_not_a_field: 1 }, 'consumer')).to.be.a('string');
      });

      it('declares where it reads credentials with well-formed names, as auth plugins must', () => {
        if (plugin.type === 'auth') expect(plugin.credentials, 'an auth plugin declares credentials(conf)').to.be.a('function');
        if (!plugin.credentials) return;
        const registry = new PluginRegistry(config);
        registry.register(plugin);
        const conf = structuredClone(MINIMAL_CONFS[plugin.name] ?? {});
        expect(registry.validate(plugin.name, conf, 'route'), 'its defaults are a valid config').to.equal(undefined);
        const declared = declaredCredentials(plugin, conf)!;
        const names = [...(declared.headers ?? []), ...(declared.query ?? []), ...(declared.cookies ?? [])];
        expect(names, 'with its defaults it reads credentials somewhere').to.not.be.empty;
        for (const name of names) expect(name).to.match(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/);
      });

      it('leaves no handles behind after init and destroy', async () => {
        const redis = new RedisPool({ url: 'redis://127.0.0.1:1' }, 'contract');
        const api: PluginApi = {
          config,
          logger: createLogger('silent'),
          redis,
          consumers: { find: () => undefined, get: () => undefined },
          metadata: () => undefined,
          // The gateway's own store: destroy must find what init (and requests) put there.
          state: createPluginState(),
          metrics: new GatewayMetrics(),
          toolCalls: new ToolCallFeed(),
          upstreams: { acquire: () => { throw new Error('no route table here'); }, byId: () => undefined },
          resource: () => undefined,
          instance: 'contract',
        };
        await new Promise((r) => setImmediate(r));
        const before = process.getActiveResourcesInfo();
        await plugin.init?.(api);
        await plugin.destroy?.(api);
        await redis.close();
        await new Promise((r) => setImmediate(r));
        const after = process.getActiveResourcesInfo();
        expect(after.length, `before: ${before.join(',')}; after: ${after.join(',')}`).to.be.at.most(before.length);
      });
    });
  }
});
