/**
 * Makes `import { definePlugin } from 'tollgate'` work in a custom plugin wherever it lives, without
 * installing anything next to it: the specifier resolves to the running gateway's own entry point
 * (core/index), for ES modules (a resolve hook) and CommonJS alike (TypeScript outside an ESM
 * package is loaded as CommonJS by tsx).
 */
import Module, { register } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SDK_SPECIFIER = 'tollgate';

let installed = false;

export function exposeSdkToPlugins(): void {
  if (installed) return;
  installed = true;
  const here = fileURLToPath(import.meta.url);
  const entry = join(dirname(here), `index${extname(here)}`);
  const entryUrl = pathToFileURL(entry).href;

  const hooks = `
    let target;
    export function initialize(data) { target = data.target; }
    export async function resolve(specifier, context, next) {
      if (specifier === ${JSON.stringify(SDK_SPECIFIER)}) return { url: target, shortCircuit: true };
      return next(specifier, context);
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { target: entryUrl } });

  type Resolver = (request: string, ...rest: unknown[]) => string;
  const internals = Module as unknown as { _resolveFilename: Resolver };
  const original = internals._resolveFilename;
  internals._resolveFilename = function resolveFilename(request: string, ...rest: unknown[]) {
    return request === SDK_SPECIFIER ? entry : original.call(this, request, ...rest);
  };
}
