/**
 * The parity suite's case format: one APISIX test (file + TEST number) translated into requests
 * against a real Tollgate gateway. Bodies and expectations are written as in the APISIX test; the
 * runner maps APISIX's test upstreams (127.0.0.1:1980/1981/1982) to real local servers.
 */

/** A request to the Admin API (`admin`) or the data plane (`req`), with what APISIX answers. */
export interface RequestStep {
  /** `'PUT /apisix/admin/routes/1'`: method and path (and query) on the Admin API. */
  admin?: string;
  /** `'GET /hello?x=1'`: method and path on the data plane (Host: localhost unless `headers` says). */
  req?: string;
  /** JSON body (an object), or a raw string sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Admin steps send the admin key unless this is false (or `headers` sets X-API-KEY). */
  key?: boolean;
  /** Save the last segment of the reply's `key` (a POST's generated id) as `{name}` for later steps. */
  saveId?: string;
  /** Repeat the request sequentially; `status` is then the list of statuses in order. */
  repeat?: number;
  /** With `repeat`: the bodies of all the replies, sorted (APISIX's `table.sort(bodys)` tests of balancing). */
  sortedBodies?: string[];
  /** Send this many copies at once; `counts` is the expected number of each status. */
  parallel?: number;
  counts?: Record<number, number>;
  /** The status APISIX answers (a list with `repeat`); `'2xx'` when the test only checks success. */
  status?: number | '2xx' | number[];
  /** Subset pattern of the JSON body, APISIX's `com_tab` semantics (see match.ts). */
  json?: unknown;
  /** Exact body text. */
  text?: string;
  /** Regular expression the body text must match (APISIX's `response_body_like`). */
  like?: string;
  /** Lines the body must contain, in any order (for upstream echo bodies that list headers). */
  lines?: string[];
  /** Lines the body must not contain. */
  noLines?: string[];
  /** Response headers: a value (exact), null (absent) or `{ $re: '…' }`. */
  resHeaders?: Record<string, unknown>;
  /** Response headers that must all be present with values different from each other. */
  distinctHeaders?: string[];
  /** APISIX's error text in `{"error_msg": …}`: the key is shape, the text is scored apart. */
  error?: string;
  /** APISIX's `response_body_like` for an `{"error_msg": …}` body: a regex over the text. */
  errorLike?: string;
  /** APISIX's error text in `{"message": …}` (plugins' rejections). */
  message?: string;
  /** APISIX's plain-text (non-JSON) error body. */
  plainError?: string;
}

/** Wait for a request the test upstreams received (a logger's POST), matching `json`. */
export interface UpstreamLogStep {
  /** Path prefix the log request was sent to, e.g. `/log`. */
  logSent: string;
  /** Only requests to this APISIX test port (3001: APISIX's log collector, vector). */
  on?: number;
  /** Pattern one log entry must match (a batch's entries are tried one by one). */
  json?: unknown;
  /** How many entries at least (default 1). */
  entries?: number;
  within?: number;
}

/** Wait for a line of a file the gateway writes ($TMP/… paths), matching `json`. */
export interface FileLogStep {
  fileLog: string;
  json?: unknown;
  within?: number;
}

/** Scrape the Prometheus exporter; each regex in `has` must match a line, none in `lacks`. */
export interface MetricsStep {
  metrics: true;
  has?: string[];
  lacks?: string[];
}

/**
 * What the test upstreams last received (APISIX's `response_args` and upstream-log checks): the
 * request target must match `url` (a regex) and the headers `headers` (value, null = absent).
 */
export interface UpstreamSawStep {
  upstreamSaw: { url?: string; headers?: Record<string, unknown> };
}

export interface SleepStep {
  sleep: number;
}

export type Step = RequestStep | UpstreamLogStep | FileLogStep | MetricsStep | UpstreamSawStep | SleepStep;

export interface ParityCase {
  /** `t/admin/routes.t#17` — APISIX's file and TEST number (several: `#17,18`). */
  src: string;
  /** The TEST's title in APISIX. */
  name: string;
  /** Environment variables set while the case runs (APISIX's `env` in main_config). */
  env?: Record<string, string>;
  /** Overrides of Tollgate's config for this case (as in conf/config.yaml). */
  config?: Record<string, unknown>;
  steps: Step[];
  /**
   * Tollgate differs from APISIX on purpose (safety): run and listed, excluded from the
   * percentages; docs/apisix-compatibility.md lists the reason.
   */
  deliberate?: string;
  /** A feature planned but not built yet (counts as a failure until it is). */
  planned?: string;
  /** Why this case is translated the way it is, where that is not obvious. */
  note?: string;
}

export interface StepOutcome {
  step: number;
  ok: boolean;
  textOk?: boolean;
  expected: string;
  actual: string;
}

export interface CaseResult {
  area: string;
  src: string;
  name: string;
  deliberate?: string;
  planned?: string;
  /** Status and shape of every step matched. */
  ok: boolean;
  /** Every declared error text matched exactly (undefined: the case declares none). */
  textOk?: boolean;
  failures: StepOutcome[];
  textFailures: StepOutcome[];
  ms: number;
}
