-- wrk script for bench/beats.ts: PUT instance/beat for instances 0..n-1 of DEFAULT_GROUP@@bench,
-- round and round (each thread starts at its own offset). Arguments: <instances> <full: 1|0>.
-- Addresses match bench/beats.ts: port 1024 + i % 60000 on 127.0.<g/256>.<g%256 + 1>, g = i / 60000.
local paths = {}
local n, i = 0, 0

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

init = function(args)
  n = tonumber(args[1])
  local full = args[2] == "1"
  for k = 0, n - 1 do
    local g = math.floor(k / 60000)
    local ip = string.format("127.0.%d.%d", math.floor(g / 256), (g % 256) + 1)
    local port = 1024 + k % 60000
    local q
    if full then
      local beat = string.format('{"serviceName":"DEFAULT_GROUP@@bench","ip":"%s","port":%d,"cluster":"DEFAULT","weight":1,"metadata":{},"scheduled":true}', ip, port)
      q = "beat=" .. enc(beat)
    else
      q = string.format("ip=%s&port=%d", ip, port)
    end
    paths[k] = "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40bench&namespaceId=public&" .. q
  end
  i = math.random(0, n - 1)
end

request = function()
  i = (i + 1) % n
  return wrk.format("PUT", paths[i])
end
