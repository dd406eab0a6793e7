/**
 * README.md's tour, run as a reader runs it: the gateway started as `npm start` starts it, then
 * every ```sh block of the README with real bash and real curl, each command held to the outcome
 * its comment states (see walkthrough.ts for how a page states them).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_UPSTREAM } from '../../bin/demo.js';
import { REPO_ROOT, startDemoGateway, type DemoGateway } from './demo-gateway.js';
import { brokenPromise, fencedBlocks, runWalkthrough, walkthroughOf, type StepResult } from './walkthrough.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const tour = walkthroughOf(README);

describe('docs: the README tour', function () {
  this.timeout(60_000);
  let demo: DemoGateway;
  let steps: StepResult[];

  // The whole tour runs once, in order, as a reader types it; each command is then its own test.
  // It runs here rather than in a test because the MCP step starts a session (a child process)
  // that lives until the gateway stops.
  before(async () => {
    demo = await startDemoGateway();
    steps = await runWalkthrough(tour, { cwd: demo.cwd, substitutions: demo.substitutions });
  });
  after(async () => {
    await demo?.stop();
  });

  it('opens with the two commands', () => {
    const [first] = fencedBlocks(README);
    const lines = first.text.split('\n');
    expect(lines[0]).to.match(/^npm install && npm start\s+#/);
    expect(lines[1]).to.match(/^npm test\s+#/);
  });

  it('names the addresses `npm start` really uses', () => {
    expect(demo.gateway.generatedAdminKey, 'the first start generates and prints a key').to.be.a('string');
    expect(README).to.include(`127.0.0.1:${DEMO_UPSTREAM.port}`);
    expect(README).to.include('data/admin.key');
    for (const [address] of demo.substitutions) expect(README).to.include(address);
  });

  it('has a tour that exercises an HTTP route, an MCP route, auth and a rate limit', () => {
    const text = tour.map((c) => c.code).join('\n');
    expect(text).to.include('/apisix/admin/routes/');
    expect(text).to.include('/mcp/demo/mcp');
    expect(text).to.include('key-auth');
    expect(text).to.include('limit-count');
    expect(tour.filter((c) => c.expect.status !== undefined).length).to.be.greaterThan(3);
  });

  tour.forEach((command, i) => {
    const label = `${command.code.length > 90 ? `${command.code.slice(0, 87)}...` : command.code}${command.comment ? `  # ${command.comment}` : ''}`;
    it(`step ${i + 1}: ${label}`, () => {
      const broken = brokenPromise(steps[i]);
      if (broken) expect.fail(`${broken}\n\ngateway log:\n${demo.logs.slice(-20).join('\n')}`);
    });
  });
});
