/**
 * The dashboard built for tests: `node ui/build.mjs` into a temporary folder, once per test
 * process, so that tests never depend on (or overwrite) a developer's dist/ui.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/gateway.js';

let built: Promise<string> | undefined;

export function buildDashboard(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-ui-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'ui/build.mjs'), dir], { env: { ...process.env, TOLLGATE_UI_QUIET: '1' } });
    return dir;
  })();
  return built;
}
