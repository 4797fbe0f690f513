#!/usr/bin/env bash
# Load test of the HTTP API on loopback: GET /v1/series/{id}/forecast (a published forecast)
# against GET /healthz in the same run, with wrk, bounded in time. Prints req/s, p50 and p99 and
# the ratio of the two rates. Usage: benches/load.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-10}" conns="${2:-64}"
command -v wrk >/dev/null || { echo "wrk is needed (Debian package wrk: apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
bin="$PWD/target/release/prescale"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
# Six weeks of hourly demand ending at the current hour, so the current hour can be published.
python3 - <<'PY' > live.csv
import datetime, math
now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
print("timestamp,y")
for i in range(24 * 42, 0, -1):
    t = now - datetime.timedelta(hours=i)
    h = (t.hour - 5) % 24
    y = 200 + 150 * math.exp(-((h - 8) / 1.5) ** 2) + 220 * math.exp(-((h - 19.5) / 2) ** 2) + (i * 7919) % 23
    print(f"{t.isoformat().replace('+00:00', 'Z')},{y:.0f}")
PY
"$bin" import --series live --tz America/Lima live.csv >/dev/null
"$bin" train --series live >/dev/null
"$bin" tick >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PRESCALE_LOG=warn "$bin" serve --listen "127.0.0.1:$port" 2>/dev/null &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/v1/series/live/forecast?horizon=24" | grep -q '"source":"published"' \
  || { echo "the forecast is not served from its publication" >&2; exit 1; }
run() { wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$port$1"; }
h=$(run /healthz)
f=$(run "/v1/series/live/forecast?horizon=24")
rate() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
echo "route                         req/s      p50      p99"
printf "%-28s %8s %8s %8s\n" "/healthz" "$(rate "$h")" "$(pct "$h" 50%)" "$(pct "$h" 99%)"
printf "%-28s %8s %8s %8s\n" "/v1/series/live/forecast" "$(rate "$f")" "$(pct "$f" 50%)" "$(pct "$f" 99%)"
awk -v a="$(rate "$f")" -v b="$(rate "$h")" 'BEGIN { printf "forecast / healthz = %.2f\n", a / b }'
