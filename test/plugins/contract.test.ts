/**
 * One contract suite over every built-in plugin: name equals folder, unique priority, schemas
 * compile and refuse unknown fields, only known phases, and init + destroy leave no handles.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { GatewayMetrics } from '../../core/metrics.js';
import type { PluginApi } from '../../core/plugin.js';
import { RedisPool } from '../../core/redis.js';
import { PluginRegistry } from '../../core/registry.js';
import { ToolCallFeed } from '../../core/tool-calls.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT } from '../helpers/gateway.js';

describe('plugin contract (every built-in plugin)', () => {
  const config = loadConfig({ env: {} });

  it('registers them all together: unique names and priorities, known phases, compiling schemas', () => {
    const registry = new PluginRegistry(config);
    for (const plugin of BUILTIN_PLUGINS) registry.register(plugin);
    expect(registry.list()).to.have.length(BUILTIN_PLUGINS.length);
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

      it('leaves no handles behind after init and destroy', async () => {
        const redis = new RedisPool({ url: 'redis://127.0.0.1:1' }, 'contract');
        const api: PluginApi = {
          config,
          logger: createLogger('silent'),
          redis,
          consumers: { find: () => undefined, get: () => undefined },
          metadata: () => undefined,
          state: <T extends object>(_plugin: string, init: () => T) => init(),
          metrics: new GatewayMetrics(),
          toolCalls: new ToolCallFeed(),
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
