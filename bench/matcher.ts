/**
 * `npm run bench -- matcher`: route lookups in process, with and without route `vars`. The same
 * 10,000-route table as bench/http.ts (half prefixes, half `:param` templates), then the same
 * table where every tenth uri is shared by a route with `vars` (one of several rules) in front of
 * a route without them, so lookups there evaluate a rule: one that holds, or one that fails and
 * falls through. Requests are real `RequestState`s over Node `IncomingMessage`s, variables read
 * as the data plane reads them.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { compileExpression } from '../core/expr.js';
import { bodyNeedsOf, RequestState } from '../core/request.js';
import { RouteMatcher, type MatcherEntry } from '../routes/matcher.js';
import { printTable } from './lib.js';

const ROUTES = 10_000;
const LOOKUPS = 200_000;

/** The rules routes carry, cycled: equality, numbers, a set, a case-insensitive regex, nesting. */
const RULES: unknown[][] = [
  [['http_x_canary', '==', '1']],
  [['arg_version', '>=', 2]],
  [['cookie_team', 'in', ['red', 'blue']]],
  [['http_user_agent', '~*', 'android']],
  ['OR', [['arg_tenant', '==', 'acme'], ['http_x_beta', '!', '==', 'off']], [['remote_addr', 'ipmatch', ['10.0.0.0/8']]]],
];

interface Lookup {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
}

function entries(withVars: boolean): Array<MatcherEntry<string>> {
  const out: Array<MatcherEntry<string>> = [];
  for (let i = 0; i < ROUTES; i++) {
    const uri = i % 2 ? `/svc${i}/items/:id` : `/svc${i}/*`;
    if (withVars && i % 10 === 0) {
      const vars = compileExpression(RULES[(i / 10) % RULES.length], { maxRegexProgram: 500 });
      out.push({ value: `r${i}-vars`, uris: [uri], priority: 1, vars, bodyNeeds: bodyNeedsOf(vars.variables) });
    }
    out.push({ value: `r${i}`, uris: [uri], priority: 0 });
  }
  out.push({ value: 'plain', uris: ['/plain'], priority: 0 });
  return out;
}

/** A request for `lookup`: one Node request message, a fresh `RequestState` (its parsed query and cookies) per call. */
function requests(lookup: Lookup): () => RequestState {
  const req = new IncomingMessage(new Socket());
  req.method = lookup.method;
  req.headers = lookup.headers;
  const [path, query = ''] = lookup.path.split('?');
  return () => new RequestState('bench', 0, '127.0.0.1', path, query, 'localhost', 'http', 9080, req);
}

const ROUNDS = 7;

/**
 * µs per lookup, the median of ROUNDS rounds, tables taking turns. Every lookup gets a request
 * state of its own, as in the data plane, so a rule pays for parsing the query or the cookies once
 * per request; making the state is timed alone and taken off.
 */
function costs(matchers: Array<RouteMatcher<string>>, lookup: Lookup, expected: Array<string | undefined>): number[] {
  const path = lookup.path.split('?')[0];
  const fresh = requests(lookup);
  matchers.forEach((matcher, i) => {
    const got = matcher.match(lookup.method, '', path, '127.0.0.1', fresh())?.value;
    if (got !== expected[i]) throw new Error(`${lookup.name}: matched ${got}, expected ${expected[i]}`);
  });
  const time = (matcher: RouteMatcher<string> | undefined): number => {
    const start = process.hrtime.bigint();
    if (matcher) for (let i = 0; i < LOOKUPS; i++) matcher.match(lookup.method, '', path, '127.0.0.1', fresh());
    else for (let i = 0; i < LOOKUPS; i++) fresh();
    return Number(process.hrtime.bigint() - start) / LOOKUPS / 1000;
  };
  const rounds: number[][] = matchers.map(() => []);
  for (let round = 0; round <= ROUNDS; round++) {
    const making = time(undefined);
    // Round 0 warms up.
    matchers.forEach((matcher, i) => {
      const t = time(matcher) - making;
      if (round > 0) rounds[i].push(t);
    });
  }
  return rounds.map((r) => r.sort((a, b) => a - b)[Math.floor(r.length / 2)]);
}

const micros = (n: number) => n.toFixed(3);

export async function run(): Promise<void> {
  const plain = new RouteMatcher(entries(false));
  const mixed = new RouteMatcher(entries(true));
  const one = new RouteMatcher([{ value: 'plain', uris: ['/plain'], priority: 0 }]);
  const lookups: Array<Lookup & { plain?: string; mixed?: string }> = [
    { name: 'exact uri, no vars on it', method: 'GET', path: '/plain', headers: {}, plain: 'plain', mixed: 'plain' },
    { name: ':param template, no vars on it', method: 'GET', path: `/svc${ROUTES - 1}/items/9`, headers: {}, plain: `r${ROUTES - 1}`, mixed: `r${ROUTES - 1}` },
    { name: 'vars route, rule holds (header ==)', method: 'GET', path: '/svc0/a/b', headers: { 'x-canary': '1' }, plain: 'r0', mixed: 'r0-vars' },
    { name: 'vars route, rule holds (arg >=)', method: 'GET', path: '/svc10/items/3?version=3&x=1', headers: {}, plain: 'r10', mixed: 'r10-vars' },
    { name: 'vars route, rule holds (~* regex)', method: 'GET', path: '/svc30/items/3', headers: { 'user-agent': 'Mozilla/5.0 (Linux; Android 14)' }, plain: 'r30', mixed: 'r30-vars' },
    { name: 'vars route, rule fails, falls through', method: 'GET', path: '/svc40/x', headers: { 'x-beta': 'off', cookie: 'a=b' }, plain: 'r40', mixed: 'r40' },
    { name: 'no route', method: 'GET', path: '/missing/path', headers: {} },
  ];
  const [baseline] = costs([one], lookups[0], ['plain']);
  const rows = lookups.map((lookup) => {
    const [withoutVars, withVars] = costs([plain, mixed], lookup, [lookup.plain, lookup.mixed]);
    return { name: lookup.name, 'no vars µs': micros(withoutVars), 'with vars µs': micros(withVars), added: `${micros(withVars - withoutVars)} µs` };
  });
  printTable(
    `Route matching, in process: ${ROUTES.toLocaleString('en')} routes, and the same with ${(ROUTES / 10).toLocaleString('en')} more carrying vars (${LOOKUPS.toLocaleString('en')} lookups per round, medians of ${ROUNDS} rounds; 1 route, exact uri: ${micros(baseline)} µs)`,
    rows,
    ['no vars µs', 'with vars µs', 'added'],
  );
}
