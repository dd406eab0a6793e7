/**
 * One page's `sh` walkthrough as a mocha suite: a gateway started as `npm start` starts it, the
 * page's commands run once in order with real bash and curl (in `before`, because an MCP step
 * opens a session whose child process lives until the gateway stops), then one test per command
 * holding it to what its comment promises.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, startDemoGateway, type DemoGateway } from './demo-gateway.js';
import { brokenPromise, runWalkthrough, walkthroughOf, type Command, type StepResult } from './walkthrough.js';

export interface PageTour {
  readonly page: string;
  readonly commands: Command[];
  /** Set once the suite's `before` ran. */
  demo: DemoGateway;
  results: StepResult[];
}

export function describePageTour(file: string, checks: (tour: PageTour) => void = () => {}): void {
  const page = readFileSync(join(REPO_ROOT, file), 'utf8');
  const tour = { page, commands: walkthroughOf(page) } as PageTour;
  describe(`docs: the walkthrough of ${file}`, function () {
    this.timeout(60_000);
    before(async () => {
      tour.demo = await startDemoGateway();
      tour.results = await runWalkthrough(tour.commands, { cwd: tour.demo.cwd, substitutions: tour.demo.substitutions });
    });
    after(async () => {
      await tour.demo?.stop();
    });

    checks(tour);

    tour.commands.forEach((command, i) => {
      const flat = command.code.replace(/\s+/g, ' ');
      const shown = flat.length > 90 ? `${flat.slice(0, 87)}...` : flat;
      it(`step ${i + 1}: ${shown}${command.comment ? `  # ${command.comment}` : ''}`, () => {
        const broken = brokenPromise(tour.results[i]);
        if (broken) expect.fail(`${broken}\n\ngateway log:\n${tour.demo.logs.slice(-20).join('\n')}`);
      });
    });
  });
}
