/**
 * Shared pieces of the observability tests: scraping the exporter over HTTP and reading samples
 * out of the Prometheus text format, and a real HTTP log collector that can be switched to fail,
 * hang, answer garbage or go away entirely.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { expect } from 'chai';
import { http, type TestGateway } from '../helpers/gateway.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (what the exporter serves). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const m of body.matchAll(label)) labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

export class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly text: string,
  ) {}

  /** Sum of the samples named `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, s) => sum + s.value, 0);
  }

  /** Whether any sample is named `name` with `labels`. */
  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.matching(name, labels).length > 0;
  }

  matching(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }
}

/** GETs the gateway's exporter (a real scrape over HTTP). */
export async function scrape(gw: TestGateway): Promise<Scrape> {
  expect(gw.metricsUrl, 'the exporter is listening').to.not.equal('');
  const res = await http('GET', gw.metricsUrl);
  expect(res.status, res.text).to.equal(200);
  expect(String(res.headers['content-type'])).to.match(/^text\/plain; version=0\.0\.4/);
  return new Scrape(parseExposition(res.text), res.text);
}

/** `slow`: answers 200 after SLOW_ANSWER_MS. */
export type CollectorMode = 'ok' | 'fail' | 'hang' | 'garbage' | 'huge' | 'slow';

export const SLOW_ANSWER_MS = 200;

export interface ReceivedBatch {
  headers: IncomingMessage['headers'];
  body: string;
  /** The entries: a JSON array, one object, or one JSON object per line. */
  entries: Array<Record<string, any>>;
  at: number;
}

/** A real HTTP log collector on loopback. */
export interface Collector {
  url: string;
  port: number;
  mode: CollectorMode;
  /** Batches answered 2xx. */
  batches: ReceivedBatch[];
  /** Every POST received, whatever it was answered. */
  attempts: number;
  /** When each POST was received (ms since the epoch). */
  attemptTimes: number[];
  /** The most POSTs received and not yet answered at one time. */
  maxOpen: number;
  entries(): Array<Record<string, any>>;
  /** Stops listening and cuts every connection (the collector "goes down"). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startCollector(port = 0): Promise<Collector> {
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let server: Server | undefined;
  const state: Collector = {
    url: '',
    port,
    mode: 'ok',
    batches: [],
    attempts: 0,
    attemptTimes: [],
    maxOpen: 0,
    entries: () => state.batches.flatMap((b) => b.entries),
    down: async () => {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const res of hanging) res.destroy();
      hanging.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    up: async () => {
      if (server) return;
      server = createServer((req, res) => handle(req, res));
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server!.listen(state.port, '127.0.0.1', resolve));
      const address = server.address();
      state.port = typeof address === 'object' && address ? address.port : state.port;
      state.url = `http://127.0.0.1:${state.port}/logs`;
    },
    close: () => state.down(),
  };
  let open = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    state.maxOpen = Math.max(state.maxOpen, ++open);
    res.once('close', () => (open -= 1));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.attempts += 1;
      state.attemptTimes.push(Date.now());
      const body = Buffer.concat(chunks).toString('utf8');
      switch (state.mode) {
        case 'fail':
          res.writeHead(500).end('collector broken');
          return;
        case 'hang':
          hanging.add(res);
          res.once('close', () => hanging.delete(res));
          return;
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' }).end('\u0000{not json at all');
          break;
        case 'huge': {
          // 200 and then an endless body: the logger must read a little and move on.
          res.writeHead(200, { 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(64 * 1024, 'x');
          const pump = () => {
            while (!res.destroyed && res.write(chunk));
            if (!res.destroyed) res.once('drain', pump);
          };
          pump();
          hanging.add(res);
          res.once('close', () => hanging.delete(res));
          break;
        }
        case 'slow':
          setTimeout(() => res.writeHead(200).end('ok'), SLOW_ANSWER_MS);
          break;
        default:
          res.writeHead(200).end('ok');
      }
      state.batches.push({ headers: req.headers, body, entries: parseBatch(body), at: Date.now() });
    });
  };
  await state.up();
  return state;
}

function parseBatch(body: string): Array<Record<string, any>> {
  const trimmed = body.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as Array<Record<string, any>>;
  return trimmed
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>);
}

/** Access log lines of a gateway, parsed. */
export function accessEntries(gw: TestGateway): Array<Record<string, any>> {
  return gw.accessLogs.map((line) => JSON.parse(line) as Record<string, any>);
}
