"""prescale against the peers on the same files, for scripts/windows and scripts/components:

    python3 scripts/against_peers.py SHARED OUT MODELS FILE.csv...

Runs the peers (MODELS, comma-separated) with their own harness on each FILE that has no results
under OUT/peers yet (their forecasts do not depend on prescale, so once per OUT), then prints one
row per FILE from prescale's OUT/NAME.M.json against the best peer (MASE, ratio, coverage,
calibration error and what a calibrated confidence shows, Brier), the geometric mean of the
ratios and the calibration pooled over the files' forecasts (OUT/NAME.F.csv)."""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from pooled import best_peer, pooled

shared, out, models, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
names = [os.path.basename(f)[:-4] for f in files]
missing = [f for f, n in zip(files, names) if not os.path.exists(f"{out}/peers/{n}.json")]
if missing:
    print(f"[peers] {models} on {len(missing)} files", file=sys.stderr)
    with open(f"{out}/peers.log", "a") as log:
        subprocess.run([f"{shared}/bench/peers/run.sh", *missing, "--models", models,
                        "--out", f"{out}/peers"], check=True, stdout=log, stderr=log)

print("| series | prescale MASE | best peer MASE | ratio | cov80 | cov95 | ECE "
      "| calibrated ECE median | Brier (skill) |")
print("|---|---|---|---|---|---|---|---|---|")
ratios = []


def skill(s):
    """Brier skill, undefined (null in M.json) when every point hit or every point missed."""
    return "undefined" if s is None or math.isnan(s) else f"{s:.3f}"


for name in names:
    m = json.load(open(f"{out}/{name}.M.json"))["metrics"]
    best, best_mase = best_peer(f"{out}/peers/{name}.json")
    ratio = m["mase"] / best_mase
    ratios.append(ratio)
    floor = (m.get("calibration_error_floor") or {}).get("median", float("nan"))
    b = m["brier"]
    print(f"| {name} | {m['mase']:.4f} | {best_mase:.4f} ({best}) | {ratio:.3f} "
          f"| {m['coverage80']:.3f} | {m['coverage95']:.3f} | {m['calibration_error']:.3f} "
          f"| {floor:.3f} | {b['score']:.4f} ({skill(b['skill'])}) |")
print(f"\ngeometric mean of the ratios over {len(ratios)} series: "
      f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.4f}")
p = pooled(f"{out}/{name}.F.csv" for name in names)
print(f"pooled over {p['points']} points: calibration error {p['ece']:.3f}, Brier {p['brier']:.4f} "
      f"(skill {skill(p['skill'])})")
