-- wrk script: POST the AdmissionReview in review.json (path given as the first argument
-- after `--`). wrk counts answers other than 2xx/3xx as status errors.
local body_file = "review.json"

function init(args)
  if args[1] then body_file = args[1] end
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local p = function(q) return latency:percentile(q) / 1000.0 end
  io.write(string.format("requests %d, errors %d (socket: connect %d read %d write %d timeout %d; status %d)\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.errors.status))
  io.write(string.format("rate %.0f/s, latency ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
    summary.requests / (summary.duration / 1e6), p(50), p(90), p(99), latency.max / 1000.0))
end
