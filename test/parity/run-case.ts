/**
 * Runs one parity case against a fresh, real Tollgate gateway (in this process, free ports, its own
 * data directory) and three real test upstreams standing in for APISIX's 127.0.0.1:1980–1982.
 * Each case starts from an empty catalog, as an APISIX test file starts from an empty etcd.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { mergeConfig } from '../../core/config.js';
import { startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../../bin/testing.js';
import { waitFor } from '../helpers/processes.js';
import { startApisixUpstream, type ApisixUpstream } from './apisix-upstream.js';
import { describe, mismatch } from './match.js';
import type { CaseResult, FileLogStep, MetricsStep, ParityCase, RequestStep, Step, StepOutcome, UpstreamLogStep, UpstreamSawStep } from './types.js';

export interface RunEnv {
  /** A Redis the limit plugins' `policy: redis` cases use (APISIX's 127.0.0.1:6379). */
  redisPort: number;
}

/** APISIX's test upstreams, and 3001: the log collector (vector) its logger tests post to. */
const APISIX_PORTS = [1980, 1981, 1982, 3001];
const REQUEST_TIMEOUT = 10_000;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function send(method: string, url: string, body: unknown, headers: Record<string, string>): Promise<Reply> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const res = await request(url, { method: method as 'GET', body: payload, headers, headersTimeout: REQUEST_TIMEOUT, bodyTimeout: REQUEST_TIMEOUT });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers as Reply['headers'], text };
}

/** APISIX's addresses and ports in a case, mapped to this run's servers; `$TMP` to a temp dir, `$ADMIN_KEY` to the key. */
function localize(value: unknown, ports: Map<number, number>, tmp: string, redisPort: number, key = ''): unknown {
  if (typeof value === 'string') {
    let out = value.replaceAll('$TMP', tmp).replaceAll('$ADMIN_KEY', TEST_ADMIN_KEY);
    for (const [from, to] of ports) out = out.replaceAll(`127.0.0.1:${from}`, `127.0.0.1:${to}`).replaceAll(`localhost:${from}`, `localhost:${to}`);
    return out;
  }
  if (typeof value === 'number') {
    if (key === 'port' && ports.has(value)) return ports.get(value);
    if (key === 'redis_port' && value === 6379) return redisPort;
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => localize(v, ports, tmp, redisPort));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[localize(k, ports, tmp, redisPort) as string] = localize(v, ports, tmp, redisPort, k);
    return out;
  }
  return value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function statusMatches(expected: RequestStep['status'], actual: number): boolean {
  if (expected === undefined) return true;
  if (expected === '2xx') return actual >= 200 && actual < 300;
  return expected === actual;
}

/** Shape problems of one reply (status aside), or [] when it has APISIX's shape. */
function shapeProblems(step: RequestStep, reply: Reply): string[] {
  const problems: string[] = [];
  const json = parseJson(reply.text);
  if (step.json !== undefined) {
    const m = json === undefined ? `body is not JSON: ${describe(reply.text)}` : mismatch(step.json, json);
    if (m) problems.push(m);
  }
  for (const [key, text] of [['error_msg', step.error ?? step.errorLike], ['message', step.message]] as const) {
    if (text === undefined) continue;
    const value = (json as Record<string, unknown> | undefined)?.[key];
    if (typeof value !== 'string') problems.push(`expected a JSON body with "${key}", got ${describe(reply.text)}`);
  }
  if (step.text !== undefined && reply.text !== step.text) problems.push(`body: expected ${describe(step.text)}, got ${describe(reply.text)}`);
  if (step.like !== undefined && !new RegExp(step.like).test(reply.text)) problems.push(`body: expected /${step.like}/, got ${describe(reply.text)}`);
  const lines = new Set(reply.text.split('\n'));
  for (const line of step.lines ?? []) if (!lines.has(line)) problems.push(`body: expected a line ${describe(line)}, got ${describe(reply.text)}`);
  for (const line of step.noLines ?? []) if (lines.has(line)) problems.push(`body: expected no line ${describe(line)}, got ${describe(reply.text)}`);
  for (const [name, want] of Object.entries(step.resHeaders ?? {})) {
    const got = reply.headers[name.toLowerCase()];
    const value = Array.isArray(got) ? got.join(', ') : got;
    const m = mismatch(want, value, `header ${name}`);
    if (m) problems.push(m);
  }
  if (step.distinctHeaders) {
    const values = step.distinctHeaders.map((name) => reply.headers[name.toLowerCase()]);
    if (values.some((v) => v === undefined) || new Set(values.map(String)).size !== values.length) {
      problems.push(`headers ${step.distinctHeaders.join(', ')}: expected present and different, got ${values.map((v) => describe(v)).join(', ')}`);
    }
  }
  return problems;
}

/** The exact-text verdict of one reply, or undefined when the step declares no error text. */
function textProblem(step: RequestStep, reply: Reply): string | undefined | false {
  const json = parseJson(reply.text) as Record<string, unknown> | undefined;
  if (step.error !== undefined) return json?.error_msg === step.error ? false : `error_msg: expected ${describe(step.error)}, got ${describe(json?.error_msg ?? reply.text)}`;
  if (step.errorLike !== undefined) {
    const got = json?.error_msg;
    return typeof got === 'string' && new RegExp(step.errorLike).test(got) ? false : `error_msg: expected /${step.errorLike}/, got ${describe(got ?? reply.text)}`;
  }
  if (step.message !== undefined) return json?.message === step.message ? false : `message: expected ${describe(step.message)}, got ${describe(json?.message ?? reply.text)}`;
  if (step.plainError !== undefined) return reply.text.trim() === step.plainError ? false : `body: expected ${describe(step.plainError)}, got ${describe(reply.text)}`;
  return undefined;
}

function declaresText(step: Step): boolean {
  return 'error' in step || 'errorLike' in step || 'message' in step || 'plainError' in step;
}

function expectedOf(step: RequestStep): string {
  const parts = [`${String(step.status ?? 'any')}`];
  if (step.counts) parts.push(describe(step.counts));
  if (step.json !== undefined) parts.push(describe(step.json));
  if (step.text !== undefined) parts.push(describe(step.text));
  if (step.error !== undefined) parts.push(`error_msg ${describe(step.error)}`);
  if (step.errorLike !== undefined) parts.push(`error_msg /${step.errorLike}/`);
  if (step.message !== undefined) parts.push(`message ${describe(step.message)}`);
  if (step.plainError !== undefined) parts.push(`text ${describe(step.plainError)}`);
  return parts.join(' ');
}

class CaseRunner {
  readonly failures: StepOutcome[] = [];
  readonly textFailures: StepOutcome[] = [];
  private readonly saved = new Map<string, string>();

  constructor(
    private readonly gateway: TestGateway,
    private readonly upstreams: ApisixUpstream[],
  ) {}

  async run(index: number, step: Step): Promise<void> {
    try {
      if ('sleep' in step) await new Promise((r) => setTimeout(r, step.sleep));
      else if ('logSent' in step) await this.logSent(index, step);
      else if ('fileLog' in step) await this.fileLog(index, step);
      else if ('metrics' in step) await this.metrics(index, step);
      else if ('upstreamSaw' in step) this.upstreamSaw(index, step);
      else await this.request(index, step);
    } catch (err) {
      const outcome = { step: index, ok: false, expected: 'a reply', actual: `error: ${(err as Error).message}` };
      this.failures.push(outcome);
      if (declaresText(step)) this.textFailures.push(outcome);
    }
  }

  private fail(step: number, expected: string, actual: string) {
    this.failures.push({ step, ok: false, expected, actual });
  }

  private async request(index: number, step: RequestStep): Promise<void> {
    const line = (step.admin ?? step.req ?? 'GET /').replace(/\{(\w+)\}/g, (all, name: string) => this.saved.get(name) ?? all);
    const space = line.indexOf(' ');
    const method = line.slice(0, space);
    const path = line.slice(space + 1);
    const base = step.admin !== undefined ? this.gateway.adminUrl.replace(/\/apisix\/admin$/, '') : this.gateway.url;
    const headers: Record<string, string> = {};
    if (step.admin !== undefined) {
      if (step.key !== false) headers['x-api-key'] = TEST_ADMIN_KEY;
    } else headers.host = 'localhost';
    if (step.body !== undefined && typeof step.body !== 'string') headers['content-type'] = 'application/json';
    Object.assign(headers, step.headers);
    const once = () => send(method, base + path, step.body, headers);

    if (step.parallel) {
      const replies = await Promise.all(Array.from({ length: step.parallel }, once));
      const counts: Record<number, number> = {};
      for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
      if (mismatch({ $exact: step.counts }, counts)) this.fail(index, `counts ${describe(step.counts)}`, `counts ${describe(counts)}`);
      return;
    }
    const times = step.repeat ?? 1;
    const bodies: string[] = [];
    for (let i = 0; i < times; i++) {
      const reply = await once();
      bodies.push(reply.text.trim());
      const wanted = Array.isArray(step.status) ? step.status[i] : step.status;
      if (step.saveId) {
        const key = (parseJson(reply.text) as { key?: unknown } | undefined)?.key;
        if (typeof key === 'string') this.saved.set(step.saveId, key.slice(key.lastIndexOf('/') + 1));
      }
      const text = textProblem(step, reply);
      if (text) this.textFailures.push({ step: index, ok: false, textOk: false, expected: expectedOf(step), actual: text });
      const problems = shapeProblems(step, reply);
      if (!statusMatches(wanted, reply.status)) problems.unshift(`status ${reply.status}`);
      if (problems.length > 0) {
        this.fail(index, expectedOf(step), `${reply.status} ${problems.join('; ')}${problems[0].startsWith('status') ? ` body ${describe(reply.text)}` : ''}`);
        return;
      }
    }
    if (step.sortedBodies && mismatch({ $exact: step.sortedBodies }, bodies.sort())) this.fail(index, `bodies ${describe(step.sortedBodies)}`, `bodies ${describe(bodies)}`);
  }

  private async logSent(index: number, step: UpstreamLogStep): Promise<void> {
    const entries = () =>
      this.upstreams
        .filter((u) => step.on === undefined || u.apisixPort === step.on)
        .flatMap((u) => u.received.filter((r) => r.url.startsWith(step.logSent)))
        .flatMap((r) => {
          const body = parseJson(r.body);
          if (Array.isArray(body)) return body;
          // concat_method new_line: one JSON document per line.
          return body === undefined ? r.body.split('\n').filter(Boolean).map(parseJson).filter((e) => e !== undefined) : [body];
        });
    const matching = () => entries().filter((e) => step.json === undefined || !mismatch(step.json, e));
    const ok = await waitFor(() => matching().length >= (step.entries ?? 1), step.within ?? 3000, 25);
    if (!ok) this.fail(index, `log entry ${describe(step.json)} at ${step.logSent}`, `entries ${describe(entries())}`);
  }

  private async fileLog(index: number, step: FileLogStep): Promise<void> {
    const read = () => {
      try {
        return readFileSync(step.fileLog, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    };
    const ok = await waitFor(() => read().some((l) => step.json === undefined || !mismatch(step.json, parseJson(l))), step.within ?? 3000, 25);
    if (!ok) this.fail(index, `a line ${describe(step.json)} in ${step.fileLog}`, `lines ${describe(read())}`);
  }

  private upstreamSaw(index: number, step: UpstreamSawStep): void {
    // Loggers post to /log on the same upstreams; they are not what the client's request became.
    const all = this.upstreams.flatMap((u) => u.received).filter((r) => !r.url.startsWith('/log'));
    const last = all[all.length - 1];
    if (!last) return this.fail(index, 'a request at the upstream', 'none');
    const { url, headers } = step.upstreamSaw;
    if (url !== undefined && !new RegExp(url).test(last.url)) this.fail(index, `upstream request target /${url}/`, last.url);
    const m = headers === undefined ? undefined : mismatch(headers, last.headers, 'upstream header');
    if (m) this.fail(index, `upstream headers ${describe(headers)}`, m);
  }

  private async metrics(index: number, step: MetricsStep): Promise<void> {
    const text = this.gateway.metricsUrl ? (await send('GET', this.gateway.metricsUrl, undefined, {})).text : '';
    // Label order carries no meaning in Prometheus; prom-client prints a bucket's `le` first,
    // APISIX's library last, and APISIX's tests match the text.
    const lines = text.split('\n').map((l) => l.replace(/^([a-z_]+_bucket)\{le="([^"]*)",(.*)\}/, '$1{$3,le="$2"}'));
    for (const re of step.has ?? []) {
      if (lines.some((l) => new RegExp(re).test(l))) continue;
      // What came closest: the lines of the same metric, so a wrong label shows.
      const name = /^\^?([a-z_]+)/.exec(re)?.[1];
      const near = name ? lines.filter((l) => l.startsWith(name)).slice(0, 3) : [];
      this.fail(index, `a metrics line /${re}/`, near.length ? `none; ${near.join(' | ')}` : 'none');
    }
    for (const re of step.lacks ?? []) {
      const found = lines.find((l) => new RegExp(re).test(l));
      if (found) this.fail(index, `no metrics line /${re}/`, found);
    }
  }
}

export async function runCase(area: string, raw: ParityCase, env: RunEnv): Promise<CaseResult> {
  const started = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), 'tollgate-parity-'));
  const upstreams = await Promise.all(APISIX_PORTS.map(startApisixUpstream));
  const ports = new Map(upstreams.map((u) => [u.apisixPort, u.port]));
  const c = localize(raw, ports, tmp, env.redisPort) as ParityCase;
  let gateway: TestGateway | undefined;
  let runner: CaseRunner | undefined;
  const setupFailure: StepOutcome[] = [];
  for (const [k, v] of Object.entries(c.env ?? {})) process.env[k] = v;
  try {
    gateway = await startTestGateway({ overrides: mergeConfig({ log: { level: 'fatal' }, access_log: { enabled: false } }, c.config ?? {}) });
    runner = new CaseRunner(gateway, upstreams);
    for (const [i, step] of c.steps.entries()) await runner.run(i + 1, step);
  } catch (err) {
    setupFailure.push({ step: 0, ok: false, expected: 'a gateway', actual: `error: ${(err as Error).message}` });
  } finally {
    for (const k of Object.keys(c.env ?? {})) delete process.env[k];
    await gateway?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
    rmSync(tmp, { recursive: true, force: true });
  }
  const failures = [...setupFailure, ...(runner?.failures ?? [])];
  return {
    area,
    src: raw.src,
    name: raw.name,
    deliberate: raw.deliberate,
    planned: raw.planned,
    ok: failures.length === 0,
    textOk: raw.steps.some(declaresText) ? runner !== undefined && setupFailure.length === 0 && runner.textFailures.length === 0 : undefined,
    failures,
    textFailures: runner?.textFailures ?? [],
    ms: Date.now() - started,
  };
}
