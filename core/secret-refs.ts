/**
 * APISIX's secret references in stored config: a string `$env://NAME` stands for the gateway's
 * environment variable NAME, `$env://NAME/key` for the string `key` of the JSON object NAME holds,
 * so that the catalog stores where a secret is, not the secret. `$secret://` (a secret manager) is
 * recognised and refused: Tollgate has no secret managers. Resolved when the config is used.
 */

const ENV_REF = '$env://';
const SECRET_REF = '$secret://';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type SecretRefResult =
  | { readonly value: string }
  /** `variable` is the environment variable asked for, when the reference names one. */
  | { readonly error: string; readonly variable?: string };

/** Whether `value` is a secret reference (resolved, or refused, rather than used as it is). */
export function isSecretRef(value: string): boolean {
  return value.startsWith(ENV_REF) || value.startsWith(SECRET_REF);
}

/** Why `value`, a secret reference, can never resolve (a malformed name, a secret manager), or undefined. */
export function secretRefProblem(value: string): string | undefined {
  if (value.startsWith(SECRET_REF)) return `secret manager references (${SECRET_REF}…) are not supported`;
  if (!value.startsWith(ENV_REF)) return undefined;
  const [name, key] = splitRef(value);
  if (!NAME.test(name) || key === '') return `"${value}" must be ${ENV_REF} followed by an environment variable name (and /key for a field of a JSON value)`;
  return undefined;
}

/** The environment variable a `$env://` reference names. */
export function secretRefVariable(value: string): string | undefined {
  return value.startsWith(ENV_REF) ? splitRef(value)[0] : undefined;
}

/** The value `ref` stands for in `environment`, or why there is none (an unset or empty variable, a missing key). */
export function resolveSecretRef(ref: string, environment: NodeJS.ProcessEnv = process.env): SecretRefResult {
  const problem = secretRefProblem(ref);
  if (problem) return { error: problem };
  const [name, key] = splitRef(ref);
  const raw = environment[name];
  if (raw === undefined || raw === '') return { error: `environment variable ${name} (${ref}) is not set`, variable: name };
  if (key === undefined) return { value: raw };
  try {
    const field = (JSON.parse(raw) as Record<string, unknown>)[key];
    if (typeof field === 'string' && field !== '') return { value: field };
  } catch {
    // reported below
  }
  return { error: `environment variable ${name} holds no string "${key}" (${ref})`, variable: name };
}

function splitRef(ref: string): [name: string, key: string | undefined] {
  const rest = ref.slice(ENV_REF.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? [rest, undefined] : [rest.slice(0, slash), rest.slice(slash + 1)];
}
