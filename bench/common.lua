-- Shared by the wrk scripts: authentication and realistic, unique events.
local M = {}

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Base64 for the Authorization header (wrk's Lua has no library for it).
function M.base64(data)
   local out = {}
   for i = 1, #data, 3 do
      local a, b, c = data:byte(i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local chars = {}
      for k = 3, 0, -1 do
         local index = math.floor(n / 64 ^ k) % 64
         chars[#chars + 1] = alphabet:sub(index + 1, index + 1)
      end
      if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
      out[#out + 1] = table.concat(chars)
   end
   return table.concat(out)
end

-- Sets method, path and headers; each wrk thread gets a random prefix for its message ids.
function M.init(path)
   wrk.method = "POST"
   wrk.path = path
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Basic " .. M.base64((os.getenv("WRITE_KEY") or "") .. ":")
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
   M.prefix = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

-- One track call as JSON; `n` makes its messageId unique, `extra` is prepended (e.g. a type).
function M.track_event(n, extra)
   return string.format(
      '{%s"userId":"user-%d","event":"Order Completed","messageId":"%s-%d",' ..
      '"properties":{"price":"4.99","product":"socks","quantity":2},' ..
      '"timestamp":"2026-11-28T09:50:00.000Z",' ..
      '"context":{"library":{"name":"bench","version":"1"}}}',
      extra or "", n % 5000, M.prefix, n)
end

return M
