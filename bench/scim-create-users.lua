-- wrk script: POST a new user on every request (unique userName per thread and request).
-- Usage: wrk -s bench/scim-create-users.lua ... BASE_URL   (BASE_URL = .../scim/v2/<dir>)
-- env: ROSTER_TOKEN
local counter = 0
local thread_id = 0
local token = os.getenv("ROSTER_TOKEN")
-- Several wrk processes against one directory (a fleet's instances) need distinct names.
local run_prefix = os.getenv("ROSTER_PREFIX") or ""

-- setup runs in the main Lua state once per thread, before the thread starts: give each
-- thread its own prefix so userNames never collide across threads or runs.
function setup(thread)
  thread:set("prefix", run_prefix .. "t" .. tostring(thread_id) .. "-" .. tostring(os.time()) .. "-")
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' ..
    prefix .. counter .. '@bench.example","active":true}'
  return wrk.format("POST", wrk.path .. "/Users",
    {["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end

-- The tail beyond wrk's own --latency lines (p99.9 is where single stalls of the writer show).
function done(summary, latency, requests)
  io.write(string.format("  tail: p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms\n",
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
