/**
 * V8 settings for the gateway process, applied by the CLI before anything else loads.
 *
 * Allocation-site pretenuring is off. V8 allocates objects straight into the old generation when
 * objects from the same allocation site tended to survive a young-generation GC. Under proxy load
 * it ends up doing that for request and response objects (IncomingMessage, ServerResponse, header
 * lists): once dead they stay in old space until a full GC and keep the young objects they point
 * to alive, so every scavenge copies ~1 MB instead of ~0.1 MB and pauses 4-6 ms instead of ~1 ms
 * (docs/benchmarks.md, "Garbage collection and tail latency"). A gateway's own long-lived objects
 * (routes, pools, plugin instances) are few; nothing here gains from pretenuring.
 *
 * V8 honours the flag reliably only from the command line: the `tollgate` bin's shebang and
 * `npm start` pass it (`node --no-allocation-site-pretenuring dist/bin/tollgate.js` by hand).
 * Set here at run time it takes effect only in part (measured: scavenges copying 0.3-1.3 MB
 * instead of 0.14 MB), so this is the fallback for a bare `node dist/bin/tollgate.js`, imported
 * before anything else loads.
 */
import { setFlagsFromString } from 'node:v8';

const V8_FLAGS = ['--no-allocation-site-pretenuring'];

for (const flag of V8_FLAGS) if (!process.execArgv.includes(flag)) setFlagsFromString(flag);
