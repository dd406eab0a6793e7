/**
 * response-rewrite's body changes, per response: `body` replaces it; `filters` (RE2 patterns,
 * ngx.re.sub / gsub semantics) rewrite it. A body is held until it is complete, decoded first
 * when it is gzip, deflate or brotli, and never held beyond `max_resp_body_size`. An event
 * stream (text/event-stream: MCP's SSE, any SSE) is never held whole: its filters apply to one
 * event at a time, as each arrives, so the stream keeps flowing.
 * A body that outgrows the limit is not cut short silently: the response is aborted (the client
 * sees an incomplete response, never a wrong one) and the reason logged.
 */
import { StringDecoder } from 'node:string_decoder';
import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import { LinearRegex, RegexError, Replacement, type RegexFlags } from '../../core/regex.js';

export interface FilterConf {
  regex: string;
  replace: string;
  scope: 'once' | 'global';
  options: string;
}

interface Filter {
  regex: LinearRegex;
  replacement: Replacement;
  global: boolean;
}

export type BodyMode = 'replace' | 'whole' | 'events' | 'untouched';

const EMPTY = Buffer.alloc(0);
/** ngx.re options that change nothing here: j (JIT), o (compile once), u (UTF-8: strings are Unicode already). */
const NO_OP_OPTIONS = new Set(['j', 'o', 'u']);
const DECODERS: Record<string, (body: Buffer, options: ZlibOptions) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};
/** Where one server-sent event ends (a blank line), in any of the three line-ending styles. */
const EVENT_END = /\r\n\r\n|\n\n|\r\r/;

/** Compiles the filters; throws a RegexError naming the filter (`regex "x" validation failed: …`, APISIX's words). */
export function compileFilters(filters: readonly FilterConf[], maxProgram: number): Filter[] {
  return filters.map((filter) => {
    try {
      const regex = LinearRegex.compile(filter.regex, maxProgram, flagsOf(filter.options));
      return { regex, replacement: Replacement.parse(filter.replace, regex.groupCount), global: filter.scope === 'global' };
    } catch (err) {
      if (err instanceof RegexError) throw new RegexError(`regex ${JSON.stringify(filter.regex)} validation failed: ${err.message}`);
      throw err;
    }
  });
}

function flagsOf(options: string): RegexFlags {
  const flags: RegexFlags = {};
  for (const option of options) {
    if (option === 'i') flags.caseInsensitive = true;
    else if (option === 'm') flags.multiLine = true;
    else if (option === 's') flags.dotAll = true;
    else if (!NO_OP_OPTIONS.has(option)) throw new RegexError(`unknown flag "${option}" (flags "${options}"); supported: i, m, s, and j, o, u which change nothing`);
  }
  return flags;
}

/** Whether the filters can read a body sent with this Content-Encoding. */
export function decodable(encoding: string | undefined): boolean {
  return !encoding || encoding === 'identity' || encoding in DECODERS;
}

function applyFilters(text: string, filters: readonly Filter[]): string {
  let out = text;
  for (const filter of filters) out = (filter.global ? filter.regex.replaceAll(out, filter.replacement) : filter.regex.replaceFirst(out, filter.replacement)) ?? out;
  return out;
}

/** One response's body change. `chunk` is called as body_filter is: per chunk, then once with `eof`. */
export class BodyRewrite {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private events?: { decoder: StringDecoder; pending: string };
  private done = false;

  constructor(
    private readonly mode: BodyMode,
    private readonly options: {
      replacement?: Buffer;
      filters: readonly Filter[];
      maxBytes: number;
      encoding?: string;
      /** The body outgrew maxBytes or could not be decoded: abort the response. */
      abort(reason: string): void;
    },
  ) {
    if (mode === 'events') this.events = { decoder: new StringDecoder('utf8'), pending: '' };
  }

  chunk(chunk: Buffer, eof: boolean): Buffer | undefined {
    if (this.done) return EMPTY;
    switch (this.mode) {
      case 'untouched':
        return undefined;
      case 'replace':
        this.done = true;
        return this.options.replacement;
      case 'events':
        return this.event(chunk, eof);
      default:
        return this.whole(chunk, eof);
    }
  }

  private whole(chunk: Buffer, eof: boolean): Buffer {
    if (chunk.length > 0) {
      this.heldBytes += chunk.length;
      if (this.heldBytes > this.options.maxBytes) return this.fail(`the response body is larger than max_resp_body_size (${this.options.maxBytes} bytes)`);
      this.held.push(chunk);
    }
    if (!eof) return EMPTY;
    this.done = true;
    let body = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held);
    this.held = [];
    const decode = this.options.encoding ? DECODERS[this.options.encoding] : undefined;
    if (decode) {
      try {
        body = decode(body, { maxOutputLength: this.options.maxBytes });
      } catch (err) {
        return this.fail(`the ${this.options.encoding} response body could not be decoded within max_resp_body_size: ${(err as Error).message}`);
      }
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      // Not text: patterns over Unicode text cannot apply; the body goes out as it came (decoded).
      return body;
    }
    return Buffer.from(applyFilters(text, this.options.filters));
  }

  private event(chunk: Buffer, eof: boolean): Buffer {
    const events = this.events!;
    events.pending += events.decoder.write(chunk);
    if (eof) events.pending += events.decoder.end();
    let out = '';
    for (let end = EVENT_END.exec(events.pending); end; end = EVENT_END.exec(events.pending)) {
      const cut = end.index + end[0].length;
      out += applyFilters(events.pending.slice(0, cut), this.options.filters);
      events.pending = events.pending.slice(cut);
    }
    if (eof) {
      if (events.pending) out += applyFilters(events.pending, this.options.filters);
      events.pending = '';
      this.done = true;
    } else if (events.pending.length > this.options.maxBytes) {
      return this.fail(`an event of the stream is larger than max_resp_body_size (${this.options.maxBytes} bytes)`);
    }
    return out ? Buffer.from(out) : EMPTY;
  }

  private fail(reason: string): Buffer {
    this.done = true;
    this.held = [];
    this.options.abort(reason);
    return EMPTY;
  }
}
