-- wrk script: PATCH-add one member per request, cycling through the user ids in USERS_FILE and
-- the group ids in GROUPS_FILE (one SCIM id per line), so groups grow the way real ones do
-- (tens to hundreds of members) rather than one group holding everyone. Adds of a user already
-- in the group are idempotent writes. env: ROSTER_TOKEN, USERS_FILE, GROUPS_FILE
local token = os.getenv("ROSTER_TOKEN")
local ids = {}
for line in io.lines(os.getenv("USERS_FILE")) do ids[#ids + 1] = line end
local groups = {}
for line in io.lines(os.getenv("GROUPS_FILE")) do groups[#groups + 1] = line end
local i = 0

function init(args)
  i = math.random(#ids)
end

function request()
  i = (i % #ids) + 1
  local group = groups[(i * 7919) % #groups + 1]
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
    '{"op":"add","path":"members","value":[{"value":"' .. ids[i] .. '"}]}]}'
  return wrk.format("PATCH", wrk.path .. "/Groups/" .. group,
    {["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end

-- The tail beyond wrk's own --latency lines (p99.9 is where single stalls of the writer show).
function done(summary, latency, requests)
  io.write(string.format("  tail: p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms\n",
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
