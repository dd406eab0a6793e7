/**
 * Admin request bodies: bounded, JSON only, no prototype poisoning (`__proto__`,
 * `constructor.prototype` are refused, as Fastify does) and no absurd nesting. Duplicate keys
 * resolve the way JSON.parse does (the last one wins); what is stored is re-serialized.
 */
import type { IncomingMessage } from 'node:http';
import sjson from 'secure-json-parse';
import { readBody } from '../core/body.js';

export const MAX_DEPTH = 32;

export class BadBody extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly raw?: string,
  ) {
    super(message);
  }
}

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  let buffer: Buffer;
  try {
    buffer = await readBody(req, limit, 30_000);
  } catch (err) {
    // APISIX's Admin API answers an oversized body 400 in these words (scripts key on it).
    if ((err as { status?: number }).status === 413) {
      const declared = Number(req.headers['content-length']);
      const size = Number.isFinite(declared) && declared > limit ? String(declared) : `more than ${limit}`;
      throw new BadBody(`invalid request body: request size ${size} is greater than the maximum size ${limit} allowed`, 400);
    }
    const status = (err as { status?: number }).status ?? 400;
    throw new BadBody((err as Error).message, status);
  }
  const text = buffer.toString('utf8');
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    throw new BadBody(`invalid request body: ${(err as Error).message}`, 400, text.slice(0, 1024));
  }
  if (depthOf(value, 0) > MAX_DEPTH) throw new BadBody(`invalid request body: nested deeper than ${MAX_DEPTH} levels`);
  return value;
}

function depthOf(value: unknown, depth: number): number {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return depth;
  let max = depth;
  for (const child of Object.values(value)) max = Math.max(max, depthOf(child, depth + 1));
  return max;
}
