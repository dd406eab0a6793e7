/**
 * mcp.allowed_commands (issue 10, item 20): allowing `node` must not allow `node -e <anything>`.
 * Interpreters' options that run inline code, preload modules, open debuggers or read the program
 * from stdin (which carries the client's messages) are refused at Admin write time with a 400
 * naming the field, unless an allow-list entry names them; entries may pin leading arguments
 * (`npx -y @modelcontextprotocol/`); and the bridge looks again before every spawn.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { GatewayMetrics } from '../../core/metrics.js';
import { ToolCallFeed } from '../../core/tool-calls.js';
import { Runtime } from '../../plugins/kit/mcp/runtime.js';
import { acquireManager } from '../../plugins/kit/mcp/sessions.js';
import { bridgeSchema, type BridgeConf } from '../../plugins/kit/mcp/schema.js';
import { http, spawnGateway, type GatewayProcess, type TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, FIXTURES, INIT, connect, descendants, post, startBridgeGateway, textOf } from './support.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';

const ALLOWED = ['node', 'npx', 'python3', 'uvx', 'bash', 'env'];

describe('mcp-bridge command policy', function () {
  this.timeout(20_000);
  let gateway: TestGateway;

  before(async () => {
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ALLOWED } });
  });

  after(async () => {
    await gateway?.stop();
  });

  const put = (id: string, bridge: Record<string, unknown>) =>
    gateway.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'mcp-bridge': { base_uri: `/${id}`, ...bridge } } });

  describe('refused at write time, with the field and the reason', () => {
    const refused: Array<[string, Record<string, unknown>, string, string]> = [
      ['node -e', { command: 'node', args: ['-e', 'require("child_process").execSync("id")'] }, 'args[0]', 'node: -e runs code given on the command line'],
      ['node --eval=', { command: 'node', args: ['--eval=1'] }, 'args[0]', 'node: --eval runs code'],
      ['node -pe', { command: 'node', args: ['-pe', '1'] }, 'args[0]', 'node: -p runs code'],
      ['node --require', { command: 'node', args: ['--require', '/tmp/x.js', FAULT_SERVER] }, 'args[0]', 'node: --require preloads a module'],
      ['node --import data:', { command: 'node', args: ['--import=data:text/javascript,1', FAULT_SERVER] }, 'args[0]', 'node: --import'],
      ['node --inspect', { command: 'node', args: ['--inspect=0.0.0.0:9229', FAULT_SERVER] }, 'args[0]', 'opens a debugger'],
      ['node without a script', { command: 'node', args: [] }, 'args', 'reads its program from standard input'],
      ['node -', { command: 'node', args: ['-'] }, 'args[0]', 'reads its program from standard input'],
      ['node -e after an unknown option', { command: 'node', args: ['--unknown-option', 'x', '-e', '1'] }, 'args[2]', 'node: -e'],
      ['python3 -c', { command: 'python3', args: ['-Bc', 'import os'] }, 'args[0]', 'python3: -c runs code'],
      ['python3 -m code', { command: 'python3', args: ['-m', 'code'] }, 'args[0]', 'python3: -m runs any installed module'],
      ['bash -c', { command: 'bash', args: ['-c', 'id'] }, 'args[0]', 'bash: -c runs commands'],
      ['bash reading stdin', { command: 'bash', args: ['-s'] }, 'args[0]', 'bash: -s reads its program from standard input'],
      ['npx -c', { command: 'npx', args: ['-c', 'id'] }, 'args[0]', 'npx: -c runs a shell command'],
      ['npx node -e', { command: 'npx', args: ['-y', 'node', '-e', '1'] }, 'args[2]', 'npx node: -e runs code'],
      ['npx --node-options', { command: 'npx', args: ['--node-options=--require=/tmp/x.js', 'some-server'] }, 'args[0]', 'npx: --node-options'],
      ['uvx python -c', { command: 'uvx', args: ['--from', 'x', 'python@3.12', '-c', 'x'] }, 'args[3]', 'uvx python: -c runs code'],
      ['env -S', { command: 'env', args: ['-S', 'node -e 1'] }, 'args[0]', 'env: -S'],
      ['env NODE_OPTIONS=--require', { command: 'env', args: ['NODE_OPTIONS=--require=/tmp/x.js', 'node', FAULT_SERVER] }, 'args[0]', 'NODE_OPTIONS'],
      ['env: NODE_OPTIONS --import', { command: 'node', args: [FAULT_SERVER], env: { NODE_OPTIONS: '--import data:text/javascript,1' } }, 'env.NODE_OPTIONS', 'node: --import'],
      ['env: LD_PRELOAD', { command: 'node', args: [FAULT_SERVER], env: { LD_PRELOAD: '/tmp/x.so' } }, 'env.LD_PRELOAD', 'loads a library'],
      ['env: BASH_ENV', { command: 'bash', args: ['/tmp/server.sh'], env: { BASH_ENV: '/tmp/x' } }, 'env.BASH_ENV', 'bash runs this file'],
    ];
    for (const [what, bridge, field, reason] of refused) {
      it(what, async () => {
        const res = await put('refused', bridge);
        expect(res.status, res.text).to.equal(400);
        expect(res.json.error_msg).to.contain(`plugin mcp-bridge err: ${field}: `).and.contain(reason);
      });
    }

    it('names the entry that would allow it', async () => {
      const res = await put('refused', { command: 'node', args: ['-e', '1'] });
      expect(res.json.error_msg).to.contain('allowed only by an mcp.allowed_commands entry that names it ("node -e")');
    });

    it('never stored any of them', async () => {
      expect((await gateway.admin('GET', '/routes/refused')).status).to.equal(404);
    });
  });

  describe('allowed', () => {
    it('a script followed by its own options (-p, -e, -c belong to the script)', async () => {
      const res = await put('own-flags', { command: 'node', args: ['--no-warnings', FAULT_SERVER, '-p', '8080', '-e', 'x', '-c', 'y'] });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
      const session = await connect(`${gateway.url}/own-flags`, 'streamable-http');
      try {
        expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'ok' } }))).to.equal('ok');
      } finally {
        await session.close();
      }
    });

    it('harmless NODE_OPTIONS and interpreter options', async () => {
      expect((await put('harmless', { command: 'node', args: ['--max-old-space-size=128', FAULT_SERVER], env: { NODE_OPTIONS: '--no-deprecation' } })).status).to.be.oneOf([200, 201]);
      expect((await put('harmless', { command: 'python3', args: ['-u', '-W', 'ignore', '/srv/server.py', '-c', 'conf.yaml'] })).status).to.be.oneOf([200, 201]);
      expect((await put('harmless', { command: 'uvx', args: ['mcp-server-fetch', '-c', 'x'] })).status).to.be.oneOf([200, 201]);
      expect((await put('harmless', { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything', '-e', 'x'] })).status).to.be.oneOf([200, 201]);
    });
  });

  describe('entries that pin arguments', () => {
    let pinned: TestGateway;
    const inline = `import(${JSON.stringify(pathToFileURL(FAULT_SERVER).href)})`;

    before(async () => {
      pinned = await startBridgeGateway({
        mcp: { allowed_commands: ['npx -y @modelcontextprotocol/', `node ${FIXTURES}/`, 'node -e', 'python3 -m mcp_server_fetch'] },
      });
    });

    after(async () => {
      await pinned?.stop();
    });

    const putPinned = (id: string, bridge: Record<string, unknown>) =>
      pinned.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'mcp-bridge': { base_uri: `/${id}`, ...bridge } } });

    it('allow what starts with the pinned arguments (a trailing "/" is a prefix, a package may carry a version)', async () => {
      expect((await putPinned('p', { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'] })).status).to.be.oneOf([200, 201]);
      expect((await putPinned('p', { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory', '--flag'] })).status).to.be.oneOf([200, 201]);
      expect((await putPinned('p', { command: 'python3', args: ['-m', 'mcp_server_fetch@1.0', '--x'] })).status).to.be.oneOf([200, 201]);
      expect((await putPinned('p', { command: 'python3', args: ['-m', 'mcp_server_fetch', '-c', 'x'] })).status).to.be.oneOf([200, 201]);
    });

    it('refuse anything else, with the entries they had to match', async () => {
      for (const args of [['-y', '@evil/server'], ['@modelcontextprotocol/server-everything'], ['-y', '@modelcontextprotocol/../../evil'], []]) {
        const res = await putPinned('p', { command: 'npx', args });
        expect(res.status, JSON.stringify(args)).to.equal(400);
        expect(res.json.error_msg).to.contain('args: the arguments of "npx" do not start as mcp.allowed_commands requires ("npx -y @modelcontextprotocol/")');
      }
      expect((await putPinned('p', { command: 'python3', args: ['-m', 'mcp_server_fetchy'] })).status).to.equal(400);
      expect((await putPinned('p', { command: 'node', args: ['/tmp/elsewhere.js'] })).status).to.equal(400);
      expect((await putPinned('p', { command: 'node', args: [`${FIXTURES}/../../../../tmp/x.js`] })).status).to.equal(400);
      // A pinned script still may not be preceded by eval options (they are not part of the pin).
      expect((await putPinned('p', { command: 'python3', args: ['-c', 'x', '-m', 'mcp_server_fetch'] })).status).to.equal(400);
    });

    it('a script under a pinned directory runs', async () => {
      expect((await putPinned('dir', { command: 'node', args: [FAULT_SERVER] })).status).to.be.oneOf([200, 201]);
      const session = await connect(`${pinned.url}/dir`, 'sse');
      try {
        expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'pinned' } }))).to.equal('pinned');
      } finally {
        await session.close();
      }
    });

    it('an entry that names an eval option allows it explicitly', async () => {
      expect((await putPinned('inline', { command: 'node', args: ['-e', inline] })).status).to.be.oneOf([200, 201]);
      const session = await connect(`${pinned.url}/inline`, 'streamable-http');
      try {
        expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'explicit' } }))).to.equal('explicit');
      } finally {
        await session.close();
      }
    });
  });

  describe('before every spawn', () => {
    it('a command line that reached the bridge without the Admin check is not started (503, the field, no value)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-'));
      const config = loadConfig({ overrides: { gateway: { data_dir: dir }, plugin_attr: { 'mcp-bridge': { allowed_commands: ['node'] } } }, plugins: BUILTIN_PLUGINS });
      const lines: string[] = [];
      const logger = createLogger('info', { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream);
      const runtime = new Runtime({ config, logger, metrics: new GatewayMetrics(), toolCalls: new ToolCallFeed() });
      const conf = { ...defaultsOf(), command: 'node', args: ['-e', 'secret-token-in-code'] } as BridgeConf;
      const held = acquireManager(runtime, 'r', 'r', conf);
      const manager = held.value;
      const before = descendants().length;
      try {
        let caught: { status?: number; body?: any } | undefined;
        try {
          manager.open('streamable-http', undefined);
        } catch (err) {
          caught = err as typeof caught;
        }
        expect(caught?.status).to.equal(503);
        expect(caught?.body.error.message).to.equal("the MCP server's command line is not allowed by mcp.allowed_commands (args[0])");
        expect(caught?.body.error.data).to.include({ code: 'GW_MCP_COMMAND_NOT_ALLOWED', reason: 'not_allowed', field: 'args[0]' });
        expect(JSON.stringify(caught?.body)).to.not.contain('secret-token');
        expect(descendants().length).to.equal(before);
        expect(lines.some((l) => l.includes('command line not allowed'))).to.equal(true);
      } finally {
        held.release();
        await runtime.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('mcp-bridge: a stored route that mcp.allowed_commands no longer allows (real gateway processes)', function () {
  this.timeout(60_000);
  const KEY = 'stored-policy-admin-key-0123456789';
  const SECRET_ARG = '--token=sekret-arg-value';
  let dir: string;
  let gateway: GatewayProcess | undefined;
  const start = async (allowed: string) => {
    gateway = await spawnGateway({ TOLLGATE_DATA_DIR: dir, TOLLGATE_ADMIN_KEY: KEY, TOLLGATE_MCP_ALLOWED_COMMANDS: allowed });
    return gateway;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-stored-policy-'));
    // Written while node was allowed; then the operator takes node off the list and restarts.
    const permissive = await start('node');
    const res = await permissive.admin('PUT', '/routes/tightened', {
      uri: '/tightened/*',
      plugins: { 'mcp-bridge': { base_uri: '/tightened', command: 'node', args: [FAULT_SERVER, SECRET_ARG], env: { API_TOKEN: 'sekret-env-value' } } },
    });
    expect(res.status, res.text).to.equal(201);
    await permissive.stop();
    await start('python3');
  });
  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const REASON = "the MCP server's command line is not allowed by mcp.allowed_commands (command)";

  it('an SDK client gets a JSON-RPC error naming the reason, and nothing is started', async () => {
    const before = descendants().length;
    const error = await connect(`${gateway!.url}/tightened`, 'streamable-http').then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).to.contain(REASON);
    expect(error?.message).to.not.contain('sekret');
    expect(descendants().length).to.equal(before);
  });

  it('a legacy SSE client gets the same 503 JSON-RPC body on its GET (the SDK shows only the status)', async () => {
    const res = await fetch(`${gateway!.url}/tightened/sse`, { headers: { accept: 'text/event-stream' } });
    const body = await res.text();
    expect(res.status).to.equal(503);
    expect(JSON.parse(body).error).to.deep.include({ message: REASON });
    expect(body).to.not.contain('sekret');
    const error = await connect(`${gateway!.url}/tightened`, 'sse').then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).to.contain('503');
  });

  it('the answer is a 503 JSON-RPC error with the field in data, never an arg or env value; /status lists the route', async () => {
    const init = await post(`${gateway!.url}/tightened/mcp`, INIT);
    expect(init.status).to.equal(503);
    expect(init.json.error.message).to.equal(REASON);
    expect(init.json.error.data).to.include({ code: 'GW_MCP_COMMAND_NOT_ALLOWED', status: 503, reason: 'not_allowed', field: 'command' });
    expect(init.text).to.not.contain('sekret');
    const status = await http('GET', `${gateway!.statusUrl}/status`);
    const listed = status.json.invalid_entries.find((e: { id: string }) => e.id === 'tightened');
    expect(listed).to.include({ kind: 'routes', effect: 'answers 503' });
    expect(listed.error).to.contain('mcp.allowed_commands');
    expect(status.text).to.not.contain('sekret');
    // A write of it now is refused, naming the field, as any write would be.
    const rewrite = await gateway!.admin('PATCH', '/routes/tightened', { desc: 'touched' });
    expect(rewrite.status).to.equal(400);
    expect(rewrite.json.error_msg).to.contain('is not in mcp.allowed_commands');
  });
});

/** The bridge config with every schema default filled in. */
function defaultsOf(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(bridgeSchema.properties as Record<string, { default?: unknown }>)) {
    if (spec.default !== undefined) out[key] = structuredClone(spec.default);
  }
  return out;
}
