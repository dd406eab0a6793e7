/**
 * Makes `import { definePlugin } from 'tollgate'` (and the other public entry points, such as
 * `tollgate/kit`) work in a custom plugin wherever it lives, without installing anything next to
 * it: each specifier resolves to the running gateway's own module, for ES modules (a resolve hook)
 * and CommonJS alike (TypeScript outside an ESM package is loaded as CommonJS by tsx).
 */
import Module, { register } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SDK_SPECIFIER = 'tollgate';

let installed = false;

/**
 * Installs the resolution once per process. `entries` maps further public specifiers to their
 * files (the composition root names them: the core knows only its own entry point).
 */
export function exposeSdkToPlugins(entries: Readonly<Record<string, string>> = {}): void {
  if (installed) return;
  installed = true;
  const here = fileURLToPath(import.meta.url);
  const files: Record<string, string> = { ...entries, [SDK_SPECIFIER]: join(dirname(here), `index${extname(here)}`) };
  const targets = Object.fromEntries(Object.entries(files).map(([specifier, file]) => [specifier, pathToFileURL(file).href]));

  const hooks = `
    let targets;
    export function initialize(data) { targets = data.targets; }
    export async function resolve(specifier, context, next) {
      if (Object.hasOwn(targets, specifier)) return { url: targets[specifier], shortCircuit: true };
      return next(specifier, context);
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { targets } });

  type Resolver = (request: string, ...rest: unknown[]) => string;
  const internals = Module as unknown as { _resolveFilename: Resolver };
  const original = internals._resolveFilename;
  internals._resolveFilename = function resolveFilename(request: string, ...rest: unknown[]) {
    return Object.hasOwn(files, request) ? files[request] : original.call(this, request, ...rest);
  };
}
