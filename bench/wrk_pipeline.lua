-- wrk script: each connection sends $WRK_PIPELINE (default 4) GET / back to back and waits for
-- all their responses before sending the next batch (HTTP/1.1 pipelining). wrk counts every
-- response; its latency is per batch.
init = function(args)
  local depth = tonumber(os.getenv("WRK_PIPELINE") or "4")
  local batch = {}
  for i = 1, depth do batch[i] = wrk.format(nil, "/") end
  req = table.concat(batch)
end

request = function()
  return req
end
