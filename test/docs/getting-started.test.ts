/**
 * docs/getting-started.md, run as a newcomer runs it: the gateway as `npm start` starts it, then
 * every ```sh block of the page with real bash and curl, each command held to its comment.
 */
import { expect } from 'chai';
import { describePageTour } from './page-tour.js';

describePageTour('docs/getting-started.md', (tour) => {
  it('covers the demo routes, an HTTP route, an MCP route, auth and a rate limit', () => {
    const text = tour.commands.map((c) => c.code).join('\n');
    for (const part of ['/demo/get', '/apisix/admin/upstreams/', '/apisix/admin/routes/', 'mcp-bridge', 'key-auth', 'limit-count', '/status/ready']) {
      expect(text, part).to.include(part);
    }
  });
});
