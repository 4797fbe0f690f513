"""The rolling windows of scripts/rolling and scripts/regimes: each shared dataset cut by 0, 14,
28, ... days (dc_bikeshare, two years long, by 0, 28, 56, ...) while 28 test days and six weeks of
history remain, and their backtests run on every core."""
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor


def cut(shared, out, datasets):
    """Writes each window's CSV under OUT/data; returns (dataset, name, path) per window."""
    windows = []
    for ds in datasets:
        lines = open(f"{shared}/datasets/{ds}.csv").read().splitlines()
        header, rows = lines[0], lines[1:]
        step = 28 if ds == "dc_bikeshare_hourly" else 14
        cut = 0
        while len(rows) - cut * 24 >= (28 + 42) * 24:
            name = f"{ds}_cut{cut}"
            path = f"{out}/data/{name}.csv"
            with open(path, "w") as f:
                f.write("\n".join([header] + rows[:len(rows) - cut * 24]) + "\n")
            windows.append((ds, name, path))
            cut += step
    return windows


def backtest(bin_, shared, out, windows, extra=()):
    """`prescale backtest` on every window (the World Cup with its match schedule), writing
    OUT/NAME.M.json and, when EXTRA asks for one, the forecasts file."""
    def run(w):
        ds, name, path = w
        events = (["--events", f"{shared}/datasets/worldcup98_events.csv"]
                  if ds.startswith("worldcup98") else [])
        subprocess.run([bin_, "backtest", path, *events, *[a.format(name=name) for a in extra],
                        "--json-out", f"{out}/{name}.M.json"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(run, windows))
