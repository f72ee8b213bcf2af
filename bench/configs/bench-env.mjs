// What every epoxy contender config takes from the harness: the ports it is given, and, for
// the hook contenders, the marker that proves the hook really runs.
import { writeFileSync } from 'node:fs';

/** BENCH_LISTEN_PORT and BENCH_BACKEND_PORT, both required. */
export function benchPorts() {
  const listen = process.env.BENCH_LISTEN_PORT;
  const backend = process.env.BENCH_BACKEND_PORT;
  if (!listen || !backend) throw new Error('set BENCH_LISTEN_PORT and BENCH_BACKEND_PORT');
  return { listen, backend };
}

let marked = false;

/**
 * The harness checks that a hook really runs: on the hook's first call this writes the PID to
 * BENCH_HOOK_MARKER (once per process; nothing per call after that).
 */
export function markHookCalled() {
  if (marked) return;
  marked = true;
  if (process.env.BENCH_HOOK_MARKER) writeFileSync(process.env.BENCH_HOOK_MARKER, String(process.pid));
}

/** FNV-1a over a string, seeded: cheap real work for a hook to do per call. */
export function fnv1a(text, seed) {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
