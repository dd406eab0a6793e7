/**
 * README.md's tour, run as a reader runs it: the gateway started as `npm start` starts it, then
 * every ```sh block of the README with real bash and real curl, each command held to the outcome
 * its comment states (see walkthrough.ts for how a page states them).
 */
import { expect } from 'chai';
import { DEMO_UPSTREAM } from '../../bin/demo.js';
import { describePageTour } from './page-tour.js';
import { fencedBlocks } from './walkthrough.js';

describePageTour('README.md', (tour) => {
  it('opens with the two commands', () => {
    const [first] = fencedBlocks(tour.page);
    const lines = first.text.split('\n');
    expect(lines[0]).to.match(/^npm install && npm start\s+#/);
    expect(lines[1]).to.match(/^npm test\s+#/);
  });

  it('names the addresses and the key file `npm start` really uses', () => {
    expect(tour.demo.gateway.generatedAdminKey, 'the first start generates and prints a key').to.be.a('string');
    expect(tour.page).to.include(`127.0.0.1:${DEMO_UPSTREAM.port}`);
    expect(tour.page).to.include('data/admin.key');
    for (const [address] of tour.demo.substitutions) expect(tour.page).to.include(address);
  });

  it('tours an HTTP route, an MCP route, auth and a rate limit', () => {
    const text = tour.commands.map((c) => c.code).join('\n');
    expect(text).to.include('/apisix/admin/routes/');
    expect(text).to.include('/mcp/demo/mcp');
    expect(text).to.include('key-auth');
    expect(text).to.include('limit-count');
    expect(tour.commands.filter((c) => c.expect.status !== undefined).length).to.be.greaterThan(3);
  });
});
