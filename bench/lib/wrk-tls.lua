-- Loaded with `wrk -s` by the TLS scenarios, whose URLs name the host the certificate and the
-- proxies' SNI routes know (https://bench.example.com:PORT/...): wrk sends the URL's host as the
-- SNI (SSL_set_tlsext_host_name) and in the Host header, and resolves it once at start through
-- wrk.lookup (getaddrinfo). That lookup is replaced here by one for BENCH_CONNECT_ADDR (default
-- 127.0.0.1), so the name needs no /etc/hosts entry and nothing on the system changes.
-- Then wrk-done.lua's summary line; no request/response function (wrk's static-request path).
local lookup = wrk.lookup
local addr = os.getenv("BENCH_CONNECT_ADDR") or "127.0.0.1"
wrk.lookup = function(host, service)
  return lookup(addr, service)
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk-done.lua")
