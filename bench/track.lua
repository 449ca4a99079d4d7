-- wrk script: single-event POST /v1/track with a unique messageId per request.
-- Usage: WRITE_KEY=... wrk -s bench/track.lua http://127.0.0.1:8080
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
   thread:set("tid", thread_id)
   thread_id = thread_id + 1
end

function init(args)
   local key = os.getenv("WRITE_KEY") or ""
   local b64 = require_base64(key .. ":")
   wrk.method = "POST"
   wrk.path = "/v1/track"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Basic " .. b64
end

function request()
   counter = counter + 1
   local body = string.format(
      '{"userId":"user-%d","event":"Order Completed","messageId":"bench-%s-%d-%d",' ..
      '"properties":{"price":"4.99","product":"socks","quantity":2},' ..
      '"timestamp":"2026-11-28T09:50:00.000Z","context":{"library":{"name":"bench","version":"1"}}}',
      counter % 1000, tostring(tid), counter, math.random(1, 1000000000))
   return wrk.format(nil, nil, nil, body)
end

-- Minimal base64 for the Authorization header (wrk's Lua has no library for it).
function require_base64(data)
   local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
   return ((data:gsub(".", function(x)
      local r, b = "", x:byte()
      for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
      return r
   end) .. "0000"):gsub("%d%d?%d?%d?%d?%d?", function(x)
      if #x < 6 then return "" end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
      return alphabet:sub(c + 1, c + 1)
   end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
