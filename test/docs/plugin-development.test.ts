/**
 * docs/plugin-development.md, followed as a reader follows it: the worked example plugin and its
 * test are taken from the page's code blocks, the page's `sh` steps run with real bash and curl
 * against a gateway started as `npm start` starts it (with the page's plugin_dirs), and the
 * example's own test runs as the page says to run it. The scaffold command runs from source.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { Plugin } from '../../core/plugin.js';
import { PluginRegistry } from '../../core/registry.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT, startDemoGateway, type DemoGateway } from './demo-gateway.js';
import { brokenPromise, fencedBlocks, runWalkthrough, walkthroughOf, type StepResult } from './walkthrough.js';

const PAGE = readFileSync(join(REPO_ROOT, 'docs/plugin-development.md'), 'utf8');
const blocks = fencedBlocks(PAGE);
const PLUGIN_SOURCE = blocks.find((b) => b.lang === 'ts' && b.text.includes("name: 'tenant-gate'"))?.text ?? '';
const TEST_SOURCE = blocks.find((b) => b.lang === 'ts' && b.text.includes("from 'tollgate/testing'"))?.text ?? '';
const CONTRACT_SAMPLE = blocks.find((b) => b.lang === 'ts')?.text ?? '';
const CONFIG = (blocks.find((b) => b.lang === 'yaml' && b.text.includes('plugin_dirs'))?.text ?? '') as string;
const steps = walkthroughOf(PAGE);
/** How the page runs the CLI from a built checkout, and how the test runs it from source. */
const BUILT_CLI = 'node dist/bin/tollgate.js';
const SOURCE_CLI = `${JSON.stringify(process.execPath)} --import tsx --conditions=tollgate-source ${JSON.stringify(join(REPO_ROOT, 'bin/tollgate.ts'))}`;

describe('docs: plugin-development.md', function () {
  this.timeout(90_000);
  let demo: DemoGateway;
  let results: StepResult[];
  let work: string;

  before(async () => {
    mkdirSync(join(REPO_ROOT, '.test-tmp'), { recursive: true });
    work = mkdtempSync(join(REPO_ROOT, '.test-tmp', 'docs-plugin-'));
    writeFileSync(join(work, 'worked-example.ts'), PLUGIN_SOURCE);
    writeFileSync(join(work, 'worked-example.test.ts'), TEST_SOURCE);
    // The page's conf/config.yaml edit, with its relative directories resolved as the gateway would
    // from the reader's working directory.
    const edit = parseYaml(CONFIG) as { plugin_dirs: string[] };
    demo = await startDemoGateway({ plugin_dirs: edit.plugin_dirs.map((d) => resolve(work, d)) }, { cwd: work });
    results = await runWalkthrough(steps, {
      cwd: work,
      substitutions: [...demo.substitutions, [BUILT_CLI, SOURCE_CLI]],
      // "Replace index.ts with …" and "replace the scaffolded test with …": what the reader does in an editor.
      after: (command) =>
        command.code.includes('plugin new tenant-gate')
          ? 'cp worked-example.ts custom-plugins/tenant-gate/index.ts && cp worked-example.test.ts custom-plugins/tenant-gate/tenant-gate.test.ts'
          : undefined,
    });
  });
  after(async () => {
    await demo?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('shows the worked example, its test and the config edit in full', () => {
    expect(PLUGIN_SOURCE).to.include('export default definePlugin');
    expect(TEST_SOURCE).to.include('startTestGateway');
    expect(CONFIG).to.include('custom-plugins');
    expect(steps.some((s) => s.code.includes('plugin new tenant-gate'))).to.equal(true);
    expect(steps.some((s) => s.code.includes('/plugins/reload'))).to.equal(true);
  });

  it('the contract sample at the top of the page is a plugin the gateway accepts', async () => {
    const file = join(work, 'contract-sample.ts');
    writeFileSync(file, CONTRACT_SAMPLE);
    const { tsImport } = await import('tsx/esm/api');
    const mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default: Plugin };
    expect(() => PluginRegistry.check(mod.default, BUILTIN_PLUGINS)).to.not.throw();
  });

  it('the worked example and its test type-check under the project settings', () => {
    const run = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
        '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck',
        '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
        '--types', 'node,mocha', '--customConditions', 'tollgate-source',
        join(work, 'custom-plugins/tenant-gate/index.ts'),
        join(work, 'custom-plugins/tenant-gate/tenant-gate.test.ts'),
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.status, run.stdout + run.stderr).to.equal(0);
  });

  steps.forEach((command, i) => {
    const flat = command.code.replace(/\s+/g, ' ');
    const label = `${flat.length > 90 ? `${flat.slice(0, 87)}...` : flat}${command.comment ? `  # ${command.comment}` : ''}`;
    it(`step ${i + 1}: ${label}`, () => {
      const broken = brokenPromise(results[i]);
      if (broken) expect.fail(`${broken}\n\ngateway log:\n${demo.logs.slice(-20).join('\n')}`);
    });
  });

  it("the example's own test passes, run as the page says", async () => {
    expect(PAGE).to.include('npx mocha custom-plugins/tenant-gate/tenant-gate.test.ts');
    // From the checkout's root, so its .mocharc.json applies, as it does for the reader.
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, 'node_modules/mocha/bin/mocha.js'), join(work, 'custom-plugins/tenant-gate/tenant-gate.test.ts')],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((done) => child.once('close', done));
    expect(code, output).to.equal(0);
    expect(output).to.match(/3 passing/);
  });
});
