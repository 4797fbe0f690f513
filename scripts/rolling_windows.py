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
        rows = len(open(f"{shared}/datasets/{ds}.csv").read().splitlines()) - 1
        step = 28 if ds == "dc_bikeshare_hourly" else 14
        days = 0
        while rows - days * 24 >= (28 + 42) * 24:
            windows.append(cut_one(shared, out, ds, days))
            days += step
    return windows


def cut_one(shared, out, ds, days, name=None):
    """Writes dataset DS without its last DAYS days as OUT/data/NAME.csv (NAME: DS_cutDAYS);
    returns (dataset, name, path)."""
    lines = open(f"{shared}/datasets/{ds}.csv").read().splitlines()
    header, rows = lines[0], lines[1:]
    name = name or f"{ds}_cut{days}"
    path = f"{out}/data/{name}.csv"
    with open(path, "w") as f:
        f.write("\n".join([header] + rows[:len(rows) - days * 24]) + "\n")
    return (ds, name, path)


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
