-- wrk script: 16 pipelined GETs per write. Usage: wrk -s pipeline.lua URL -- /plaintext 16
local path, depth = "/plaintext", 16
init = function(args)
  if args[1] ~= nil then path = args[1] end
  if args[2] ~= nil then depth = tonumber(args[2]) end
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET", path) end
  req = table.concat(r)
end
request = function() return req end
