/**
 * The gateway's single ajv instance. Every schema (config, catalog resources, plugin configs) is
 * compiled here once and reused; validators fill defaults in place, as APISIX does, so what is
 * stored and served is the config with its defaults.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

export type JsonSchema = Record<string, unknown>;

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

export const ajv = new Ajv({
  useDefaults: true,
  allErrors: false,
  strict: true,
  strictTypes: false,
  strictRequired: false,
  allowUnionTypes: true,
  // Plugin and resource schemas describe their fields for generated docs.
  keywords: ['example'],
});
addFormats(ajv);

export interface Validator<T = unknown> {
  /** Validates (and fills defaults into) `value`; returns an error message or undefined. */
  (value: unknown): string | undefined;
  readonly schema: JsonSchema;
  readonly raw: ValidateFunction<T>;
  /** Validates (and fills defaults into) `value`: the value, typed as the schema describes it, or an error message. */
  readonly parse: (value: unknown) => T | string;
}

/**
 * Compiled code by schema text. ajv caches by object identity, and every gateway start (and every
 * plugin reload) builds fresh schema objects with the same content; compiling them again was most
 * of a start's CPU time. Generated validators keep no state, so equal schemas share one.
 */
const compiled = new Map<string, ValidateFunction>();

function compiledCode<T>(schema: JsonSchema): ValidateFunction<T> {
  const text = JSON.stringify(schema);
  let raw = compiled.get(text) as ValidateFunction<T> | undefined;
  if (!raw) {
    raw = ajv.compile<T>(schema);
    compiled.set(text, raw);
  }
  return raw;
}

/** Compiles once; a schema that does not compile throws with ajv's message. */
export function compile<T = unknown>(schema: JsonSchema): Validator<T> {
  const raw = compiledCode<T>(schema);
  return validator(schema, () => raw);
}

/**
 * Compiles on the first validation instead of now. For the schemas the gateway ships (resource
 * schemas, the built-in plugins'): compiling all of them took about 0.3 s of a start's 1.3 s of
 * CPU, and a gateway uses a few; the tests compile every one of them (test/core/schema.test.ts),
 * so a shipped schema that does not compile cannot reach a user. A schema from elsewhere (a
 * custom plugin's) goes through compile, so that its error shows when it loads.
 */
export function compileOnUse<T = unknown>(schema: JsonSchema): Validator<T> {
  let raw: ValidateFunction<T> | undefined;
  return validator(schema, () => (raw ??= compiledCode<T>(schema)));
}

function validator<T>(schema: JsonSchema, code: () => ValidateFunction<T>): Validator<T> {
  const validate = ((value: unknown) => {
    const raw = code();
    return raw(value) ? undefined : formatErrors(raw.errors);
  }) as Validator<T>;
  Object.defineProperty(validate, 'schema', { value: schema });
  Object.defineProperty(validate, 'raw', { get: code });
  Object.defineProperty(validate, 'parse', {
    value: (value: unknown): T | string => {
      const raw = code();
      return raw(value) ? (value as T) : formatErrors(raw.errors);
    },
  });
  return validate;
}

/**
 * APISIX-like messages that still name the failing field by JSON pointer:
 * `property "/methods/0" validation failed: must be equal to one of the allowed values`.
 */
export function formatErrors(errors: ErrorObject[] | null | undefined): string {
  const err = errors?.[0];
  if (!err) return 'validation failed';
  const params = err.params as Record<string, unknown>;
  let where = err.instancePath || '/';
  let detail = err.message ?? 'is invalid';
  if (err.keyword === 'additionalProperties') {
    where = `${err.instancePath}/${String(params.additionalProperty)}`;
    detail = 'is not allowed (unknown property)';
  } else if (err.keyword === 'required') {
    where = `${err.instancePath}/${String(params.missingProperty)}`;
    detail = 'is required';
  } else if (err.keyword === 'enum') {
    detail = `must be one of ${JSON.stringify(params.allowedValues)}`;
  }
  return `property "${where}" validation failed: ${detail}`;
}
