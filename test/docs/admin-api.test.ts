/**
 * docs/admin-api.md, run as a reader would run its examples: the gateway as `npm start` starts it,
 * then every ```sh block of the page with real bash and curl, each command held to its comment.
 * Also: every resource kind and every endpoint the Admin API serves has a section on the page.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESOURCE_KINDS } from '../../core/catalog/types.js';
import { describePageTour } from './page-tour.js';
import { REPO_ROOT } from './demo-gateway.js';

describePageTour('docs/admin-api.md', (tour) => {
  it('documents every resource and every endpoint the Admin API serves', () => {
    // Credentials are addressed under their consumer.
    const paths = RESOURCE_KINDS.map((kind) => (kind === 'credentials' ? '/apisix/admin/consumers/{username}/credentials' : `/apisix/admin/${kind}`));
    for (const path of paths) expect(tour.page, path).to.include(path);
    const sources = ['admin/server.ts', 'admin/plugins.ts'].map((file) => readFileSync(join(REPO_ROOT, file), 'utf8')).join('\n');
    const fixed = [...sources.matchAll(/router\.\w+\('(\/(?:plugins|schema)\/[a-z]+)/g)].map((m) => m[1]);
    expect(fixed.length).to.be.greaterThan(3);
    for (const path of fixed) expect(tour.page, path).to.include(`/apisix/admin${path}`);
  });
});
