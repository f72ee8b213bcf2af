/**
 * The one normalization of a host name on the control plane, as the engine's normalize_host
 * (native/http/parser.h): lowercase, a `:port` suffix and one trailing dot removed, so that
 * `WWW.Foo.com.:80` and `www.foo.com` are the same host. Used by pick() on `hash: host` pools
 * (src/pools.ts) and by the host maps (src/hostmaps/keys.ts). A pure module: no import of the
 * native addon, so the host-map operator commands can use it without loading the engine.
 */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && /^\d*$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
