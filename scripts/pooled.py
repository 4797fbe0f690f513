"""Calibration of the confidence pooled over forecasts files (the F.csv of `prescale backtest`),
for scripts/accuracy and scripts/windows: ten equal-width bins, and a hit is the backtest's,
|y - yhat| <= 20% of yhat. One dataset's 600-700 points leave its calibration error at the noise
floor; pooled, thousands of points show a systematic miscalibration if there is one. `scored`
reads a forecasts file for the other scripts that score its points (rolling, regimes), and
`best_peer` finds what prescale is held against in a peers' results file (accuracy, seeds,
against_peers.py)."""
import csv
import json


def scored(path):
    """The rows of a forecasts file with an outcome: (row, y, yhat, confidence, hit)."""
    for r in csv.DictReader(open(path)):
        if r["y"] in ("", "nan", "NaN"):
            continue
        y, yhat, c = float(r["y"]), float(r["yhat"]), float(r["confidence"])
        yield r, y, yhat, c, abs(y - yhat) <= 0.2 * abs(yhat)


def pooled(paths):
    """Points, calibration error, Brier score, its skill against always stating the pooled hit
    rate, and the bins as (points, sum of confidence, hits)."""
    bins = [[0, 0.0, 0] for _ in range(10)]
    total = hits = 0
    brier = 0.0
    for path in paths:
        for _, _, _, c, hit in scored(path):
            total += 1
            hits += hit
            brier += (c - hit) ** 2
            b = bins[min(int(c * 10), 9)]
            b[0] += 1
            b[1] += c
            b[2] += hit
    ece = sum(n / total * abs(cs / n - h / n) for n, cs, h in bins if n)
    rate = hits / total
    return {
        "points": total,
        "ece": ece,
        "brier": brier / total,
        "skill": 1 - brier / total / (rate * (1 - rate)) if 0 < rate < 1 else float("nan"),
        "bins": bins,
    }


def best_peer(results):
    """The peer with the lowest MASE among those that ran, as (name, MASE), in a peers' results
    file (`bench/peers` writes one per dataset: {"models": {name: {"status", "metrics"}}})."""
    models = json.load(open(results))["models"]
    ok = {k: v["metrics"]["mase"] for k, v in models.items()
          if v.get("status") == "ok" and v.get("metrics", {}).get("mase") is not None}
    best = min(ok, key=ok.get)
    return best, ok[best]
