-- Loaded with `wrk -s`: spreads requests over BENCH_HOSTS hosts (default 1000), every
-- BENCH_HOST_STRIDE-th of h0.bench.example … (default 100: 1,000 of a 100,000-host map), each
-- connection starting at its own place. The requests are formatted once in init(), so the
-- per-request cost is a table lookup; both contenders of a comparison use this same script.
local n = tonumber(os.getenv("BENCH_HOSTS") or "1000")
local stride = tonumber(os.getenv("BENCH_HOST_STRIDE") or "100")
local path = os.getenv("BENCH_PATH") or "/1k"
local reqs = {}
local at = 0

init = function(args)
  for i = 0, n - 1 do
    reqs[i] = wrk.format("GET", path, { ["Host"] = "h" .. (i * stride) .. ".bench.example" })
  end
  at = math.random(0, n - 1)
end

request = function()
  at = (at + 1) % n
  return reqs[at]
end

-- The totals line the harness parses (wrk-done.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk-done.lua")
