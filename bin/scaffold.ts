/**
 * `tollgate plugin new NAME`: a working custom plugin and its test, ready to edit, load through
 * `plugin_dirs` and hot-reload with PUT /apisix/admin/plugins/reload.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BUILTIN_PLUGINS } from '../plugins/index.js';

export interface ScaffoldOptions {
  name: string;
  dir: string;
  priority: number;
}

export function scaffoldPlugin({ name, dir, priority }: ScaffoldOptions): string[] {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) throw new Error(`plugin name "${name}" must be kebab-case (e.g. my-plugin)`);
  if (BUILTIN_PLUGINS.some((p) => p.name === name)) throw new Error(`${name} is a built-in plugin; choose another name`);
  const taken = BUILTIN_PLUGINS.find((p) => p.priority === priority);
  if (taken) throw new Error(`priority ${priority} is used by ${taken.name}; custom plugins usually take 1-99`);
  const folder = join(resolve(dir), name);
  if (existsSync(folder)) throw new Error(`${folder} already exists`);
  mkdirSync(folder, { recursive: true });
  const files = [join(folder, 'index.ts'), join(folder, `${name}.test.ts`)];
  writeFileSync(files[0], pluginSource(name, priority));
  writeFileSync(files[1], testSource(name));
  return files;
}

function pluginSource(name: string, priority: number): string {
  return `/**
 * ${name} — describe what it does, its phases, and whether it fails open or closed.
 * Phases: access (may refuse a request), headerFilter (stamps the response).
 */
import { definePlugin, GatewayError } from 'tollgate';

interface Conf {
  header_value: string;
  deny: boolean;
}

export default definePlugin<Conf>({
  name: '${name}',
  version: '0.1.0',
  priority: ${priority},
  description: 'A new Tollgate plugin.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header_value: { type: 'string', default: 'hello', description: 'Sent back in the X-${titleCase(name)} response header.' },
      deny: { type: 'boolean', default: false, description: 'Refuse every request with 403 (to show how a plugin ends a request).' },
    },
  },

  access(ctx, conf) {
    if (conf.deny) throw new GatewayError(403, 'GW_${name.toUpperCase().replaceAll('-', '_')}_DENIED', 'denied by ${name}');
  },

  headerFilter(ctx, conf) {
    ctx.set('x-${name}', conf.header_value);
  },
});
`;
}

function testSource(name: string): string {
  return `/**
 * ${name} against a real gateway and a real upstream (run: npx mocha --import tsx --conditions tollgate-source ${name}.test.ts).
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestGateway, type TestGateway } from 'tollgate/testing';

const PLUGIN_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

describe('plugin ${name}', () => {
  let gw: TestGateway;
  let upstream: Server;

  before(async () => {
    upstream = createServer((_req, res) => res.end('from upstream'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    gw = await startTestGateway({ overrides: { plugin_dirs: [PLUGIN_DIR] } });
    const nodes = { [\`127.0.0.1:\${(upstream.address() as AddressInfo).port}\`]: 1 };
    await gw.admin('PUT', '/routes/stamped', { uri: '/stamped', upstream: { nodes }, plugins: { '${name}': { header_value: 'it works' } } });
    await gw.admin('PUT', '/routes/denied', { uri: '/denied', upstream: { nodes }, plugins: { '${name}': { deny: true } } });
  });
  after(async () => {
    await gw.stop();
    await new Promise((r) => upstream.close(r));
  });

  it('refuses an unknown config field', async () => {
    const res = await gw.admin('PUT', '/routes/bad', { uri: '/bad', plugins: { '${name}': { colour: 'red' } } });
    expect(res.status).to.equal(400);
  });

  it('stamps the response', async () => {
    const res = await gw.get('/stamped');
    expect(res.status).to.equal(200);
    expect(res.text).to.equal('from upstream');
    expect(res.headers['x-${name}']).to.equal('it works');
  });

  it('can refuse a request', async () => {
    const res = await gw.get('/denied');
    expect(res.status).to.equal(403);
    expect(res.json.code).to.equal('GW_${name.toUpperCase().replaceAll('-', '_')}_DENIED');
  });
});
`;
}

function titleCase(name: string): string {
  return name.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('-');
}
