import { expect } from 'chai';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { ConfigError, loadConfig } from '../../core/config.js';
import { REPO_ROOT } from '../helpers/gateway.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';

describe('configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (text: string) => {
    const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, text);
    return path;
  };

  it('conf/config.yaml documents exactly the built-in defaults', () => {
    expect(loadConfig({ file: join(REPO_ROOT, 'conf/config.yaml'), env: {}, plugins: BUILTIN_PLUGINS })).to.deep.equal(loadConfig({ env: {}, plugins: BUILTIN_PLUGINS }));
  });

  it('has safe defaults: admin on loopback with an allow-list, 8 MiB body limit, embedded catalog', () => {
    const config = loadConfig({ env: {} });
    expect(config.admin.listen).to.equal('127.0.0.1:9180');
    expect(config.admin.allow).to.deep.equal(['127.0.0.0/24', '::1/128']);
    expect(config.admin.key).to.equal('');
    expect(config.limits.max_body_bytes).to.equal(8 * 1024 * 1024);
    expect(config.catalog.backend).to.equal('embedded');
    expect(config.gateway.workers).to.equal(1);
  });

  it('gateway.workers: a count, or auto for every core this process may use', () => {
    expect(loadConfig({ file: file('gateway:\n  workers: 3\n'), env: {} }).gateway.workers).to.equal(3);
    expect(loadConfig({ file: file('gateway:\n  workers: auto\n'), env: {} }).gateway.workers).to.equal(availableParallelism());
    expect(loadConfig({ env: { TOLLGATE_WORKERS: 'auto' } }).gateway.workers).to.equal(availableParallelism());
    expect(() => loadConfig({ file: file('gateway:\n  workers: 0\n'), env: {} })).to.throw(ConfigError, /gateway\.workers/);
    expect(() => loadConfig({ env: { TOLLGATE_WORKERS: 'many' } })).to.throw(ConfigError, /gateway\.workers/);
  });

  it('relay.secret: empty, or at least 32 characters; relay.listen is an address', () => {
    expect(loadConfig({ env: {} }).relay.secret).to.equal('');
    expect(loadConfig({ env: {} }).relay.max_connections).to.equal(256);
    expect(loadConfig({ env: { TOLLGATE_RELAY_SECRET: 'x'.repeat(32) } }).relay.secret).to.equal('x'.repeat(32));
    expect(() => loadConfig({ env: { TOLLGATE_RELAY_SECRET: 'short-secret' } })).to.throw(ConfigError, /relay\.secret.*at least 32 characters/);
    expect(() => loadConfig({ env: { TOLLGATE_RELAY_LISTEN: 'nowhere' } })).to.throw(ConfigError, /relay\.listen/);
    expect(loadConfig({ file: file('relay:\n  max_connections: 8\n'), env: {} }).relay.max_connections).to.equal(8);
    expect(() => loadConfig({ file: file('relay:\n  max_connections: 0\n'), env: {} })).to.throw(ConfigError, /max_connections/);
  });

  it('lets environment variables override the file', () => {
    const config = loadConfig({
      file: file('gateway:\n  listen: 0.0.0.0:1\ncatalog:\n  backend: embedded\n'),
      env: {
        TOLLGATE_LISTEN: '127.0.0.1:9999',
        TOLLGATE_ADMIN_LISTEN: '127.0.0.1:9998',
        TOLLGATE_ADMIN_KEY: 'a-long-enough-admin-key',
        TOLLGATE_CATALOG: 'redis',
        TOLLGATE_REDIS_URL: 'redis://10.0.0.1:6380/2',
        TOLLGATE_DATA_DIR: '/var/lib/tollgate',
        TOLLGATE_WORKERS: '1',
        TOLLGATE_MCP_ALLOWED_COMMANDS: 'node, uvx',
      },
      plugins: BUILTIN_PLUGINS,
    });
    expect(config.gateway.listen).to.equal('127.0.0.1:9999');
    expect(config.admin.listen).to.equal('127.0.0.1:9998');
    expect(config.admin.key).to.equal('a-long-enough-admin-key');
    expect(config.catalog.backend).to.equal('redis');
    expect(config.redis.url).to.equal('redis://10.0.0.1:6380/2');
    expect(config.gateway.data_dir).to.equal('/var/lib/tollgate');
    expect(config.plugin_attr['mcp-bridge'].allowed_commands).to.deep.equal(['node', 'uvx']);
  });

  describe('plugin_attr: plugins\' gateway-wide attributes', () => {
    const load = (yaml: string, env: Record<string, string> = {}) => loadConfig({ file: file(yaml), env, plugins: BUILTIN_PLUGINS });

    it('checks a plugin\'s attributes against the schema it declares, filling its defaults', () => {
      const attrs = load('plugin_attr:\n  mcp-bridge:\n    max_children: 4\n').plugin_attr['mcp-bridge'];
      expect(attrs.max_children).to.equal(4);
      expect(attrs.start_concurrency).to.equal(8);
      expect(() => load('plugin_attr:\n  mcp-bridge:\n    max_children: 0\n')).to.throw(ConfigError, /key "plugin_attr.mcp-bridge.max_children"/);
      expect(() => load('plugin_attr:\n  mcp-bridge:\n    max_childs: 4\n')).to.throw(ConfigError, /key "plugin_attr.mcp-bridge.max_childs"/);
    });

    it('reads the older top-level mcp: section as plugin_attr.mcp-bridge; plugin_attr wins key by key', () => {
      expect(load('mcp:\n  max_children: 5\n').plugin_attr['mcp-bridge'].max_children).to.equal(5);
      const both = load('mcp:\n  max_children: 5\n  start_queue: 7\nplugin_attr:\n  mcp-bridge:\n    max_children: 6\n').plugin_attr['mcp-bridge'];
      expect([both.max_children, both.start_queue]).to.deep.equal([6, 7]);
      expect(() => load('mcp:\n  max_children: 0\n')).to.throw(ConfigError, /key "plugin_attr.mcp-bridge.max_children"/);
    });

    it('lets a plugin\'s environment variable set its attribute', () => {
      expect(load('', { TOLLGATE_MCP_ALLOWED_COMMANDS: 'node' }).plugin_attr['mcp-bridge'].allowed_commands).to.deep.equal(['node']);
    });

    it('refuses attributes for a plugin that takes none, naming it', () => {
      expect(() => load('plugin_attr:\n  key-auth:\n    header: x\n')).to.throw(ConfigError, /key "plugin_attr.key-auth": plugin key-auth takes no attributes/);
    });
  });

  const invalid: Array<[string, string, Record<string, string>, RegExp]> = [
    ['an unknown key', 'admin:\n  lisen: 127.0.0.1:1\n', {}, /key "admin.lisen"/],
    ['a wrong type', 'limits:\n  max_body_bytes: lots\n', {}, /key "limits.max_body_bytes"/],
    ['a bad listen address', 'gateway:\n  listen: nowhere\n', {}, /key "gateway.listen"/],
    ['a bad catalog from the environment', '', { TOLLGATE_CATALOG: 'etcd' }, /key "catalog.backend"/],
    ['a port out of range', '', { TOLLGATE_LISTEN: '127.0.0.1:70000' }, /key "gateway.listen"/],
    ['YAML that does not parse', 'gateway: [\n', {}, /not valid YAML/],
  ];
  for (const [name, yaml, env, message] of invalid) {
    it(`stops on ${name}, naming the key`, () => {
      expect(() => loadConfig({ file: file(yaml), env })).to.throw(ConfigError, message);
    });
  }
});
