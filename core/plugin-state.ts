/**
 * `PluginApi.state`: one value per plugin name for one gateway, made by `init` on first use and
 * the same object ever after, so that a plugin's `destroy` finds what its `init` and its requests
 * left there. The gateway and the plugin contract test both use this one.
 */
import type { PluginApi } from './plugin.js';

export function createPluginState(): PluginApi['state'] {
  const values = new Map<string, object>();
  return <T extends object>(plugin: string, init: () => T): T => {
    let value = values.get(plugin) as T | undefined;
    if (!value) {
      value = init();
      values.set(plugin, value);
    }
    return value;
  };
}
