#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench's report: medians, spread, ratios against each comparison's
baseline, the issue's goals checked, a JSON file and PNG plots.

Input: raw result files written by the bench parts (tools/bench/*.sh), one
line per (comparison, workload, configuration, repetition):

    BENCH {"cmp":"c1","workload":"randread-4k-qd1","config":"dm-linear",
           "rep":1,"metrics":{"iops":1234.5,...}}
    BENCHINFO {...}

(the "BENCH " prefix is optional in the files).  Output: a text report on
stdout (and --text FILE), a JSON summary (--json FILE) and, with --plots DIR,
PNG plots drawn by gnuplot.  Exit status: 0 when the report was made (a goal
missed is a finding, not an error), 2 on unreadable or malformed input.

The spread of a median is given as (max - min) / median over the
repetitions, in percent.
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

# Per comparison: its title, the baseline configuration the ratios are taken
# against, and the configurations' display order.
CMPS = {
    "c1": ("writer, every chunk stable, against dm-linear", "dm-linear",
           ["dm-linear", "dm-red"]),
    "c2": ("writer first writes with 0, 1 and 2 copiers", "stable",
           ["stable", "copiers-0", "copiers-1", "copiers-2"]),
    "c2a": ("sequential first writes with one copier: stabilize_ahead off and 64",
            "ahead-0", ["ahead-0", "ahead-64"]),
    "c2k": ("first writes with 2 copiers: preserves copied by dm-red's runs or by kcopyd",
            "copy-kcopyd", ["copy-kcopyd", "copy-runs"]),
    "c3": ("copier against dm-snapshot (transient store on zram)",
           "dm-snapshot", ["dm-snapshot", "dm-red-copier"]),
    "c4": ("chunk size sweep", None, []),
    "c5": ("PostgreSQL on three guests: one shared copy against shared nothing",
           "shared-nothing", ["shared-nothing", "dm-red"]),
}

METRIC_ORDER = ["iops", "mibs", "lat_p50_us", "lat_p99_us", "tps",
                "bytes_per_tx", "stored_bytes", "store_orig_bytes_per_ktx",
                "store_mem_bytes_per_ktx", "seconds", "stabilize_per_chunk",
                "chunks_per_stabilize"]


class InputError(Exception):
    pass


def chunk_bytes(config):
    """chunk-4k -> 4096, chunk-1m -> 1048576; None if not a chunk config."""
    if not config.startswith("chunk-"):
        return None
    s = config[len("chunk-"):].lower()
    mult = {"k": 1024, "m": 1024 * 1024}.get(s[-1:])
    try:
        return int(s[:-1]) * mult if mult else int(s)
    except ValueError:
        return None


def read_raw(paths):
    rows, infos = [], []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except OSError as e:
            raise InputError(f"{path}: {e.strerror}") from e
        for no, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            kind = "BENCH"
            for prefix in ("BENCHINFO ", "BENCH "):
                if line.startswith(prefix):
                    kind = prefix.strip()
                    line = line[len(prefix):]
                    break
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{no}: not JSON: {e.msg}") from e
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{no}: not a JSON object")
            if kind == "BENCHINFO":
                obj.setdefault("source", os.path.basename(path))
                infos.append(obj)
                continue
            for key in ("cmp", "workload", "config"):
                if not isinstance(obj.get(key), str) or not obj[key]:
                    raise InputError(f"{path}:{no}: missing string field '{key}'")
            metrics = obj.get("metrics")
            if not isinstance(metrics, dict) or not metrics:
                raise InputError(f"{path}:{no}: missing object field 'metrics'")
            for k, v in metrics.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) \
                        or not math.isfinite(v):
                    raise InputError(f"{path}:{no}: metric '{k}' is not a finite number")
            rows.append(obj)
    return rows, infos


def summarize(rows):
    """{cmp: {workload: {config: {metric: {median, min, max, n, spread_pct}}}}}"""
    groups = {}
    for r in rows:
        g = groups.setdefault(r["cmp"], {}).setdefault(r["workload"], {}) \
            .setdefault(r["config"], {})
        for k, v in r["metrics"].items():
            g.setdefault(k, []).append(float(v))
    out = {}
    for cmp_, wls in groups.items():
        for wl, cfgs in wls.items():
            for cfg, mets in cfgs.items():
                for k, vals in mets.items():
                    med = statistics.median(vals)
                    spread = (max(vals) - min(vals)) / med * 100 if med else 0.0
                    out.setdefault(cmp_, {}).setdefault(wl, {}).setdefault(cfg, {})[k] = {
                        "median": med, "min": min(vals), "max": max(vals),
                        "n": len(vals), "spread_pct": round(spread, 1)}
    return out


def ratio(summary, cmp_, wl, cfg, base, metric):
    try:
        a = summary[cmp_][wl][cfg][metric]["median"]
        b = summary[cmp_][wl][base][metric]["median"]
    except KeyError:
        return None
    return a / b if b else None


def check_goals(s):
    """The issue's goals, each {cmp, what, value, goal, met}."""
    goals = []

    def add(cmp_, what, value, goal, met):
        goals.append({"cmp": cmp_, "what": what,
                      "value": None if value is None else round(value, 3),
                      "goal": goal, "met": bool(met) if value is not None else None})

    for wl in sorted(s.get("c1", {})):
        r = ratio(s, "c1", wl, "dm-red", "dm-linear", "iops")
        add("c1", f"{wl}: dm-red/dm-linear IOPS", r, ">= 0.98", r is not None and r >= 0.98)
        r = ratio(s, "c1", wl, "dm-red", "dm-linear", "lat_p99_us")
        add("c1", f"{wl}: dm-red/dm-linear p99", r, "<= 1.02", r is not None and r <= 1.02)
    for wl in sorted(s.get("c2", {})):
        r = ratio(s, "c2", wl, "copiers-2", "stable", "iops")
        add("c2", f"{wl}: 2 copiers first writes / stable IOPS", r, ">= 0.5",
            r is not None and r >= 0.5)
    for wl in sorted(s.get("c3", {})):
        r = ratio(s, "c3", wl, "dm-red-copier", "dm-snapshot", "iops")
        add("c3", f"{wl}: dm-red copier/dm-snapshot IOPS", r, ">= 1.0",
            r is not None and r >= 1.0)
    c5 = s.get("c5", {})
    if "pgbench" in c5:
        r = ratio(s, "c5", "pgbench", "dm-red", "shared-nothing", "bytes_per_tx")
        # one node's share of shared nothing's three copies is 1/3; "close to
        # one node's" is read as at most half of shared nothing's bytes
        add("c5", "bytes written per transaction, dm-red/shared-nothing", r,
            "<= 0.5 (one node's share is 0.33)", r is not None and r <= 0.5)
    # replica-add-sN: the pgbench scale N is in the name (10 and 50 by
    # default, 2 and 5 with --quick); the goal is on the larger one
    adds = sorted((int(w[len("replica-add-s"):]), w) for w in c5
                  if re.fullmatch(r"replica-add-s[0-9]+", w))
    for n, wl in adds:
        r = ratio(s, "c5", wl, "shared-nothing", "dm-red", "seconds")
        top = n == adds[-1][0] and len(adds) > 1
        goal = ">= 10x faster" if top else "(at the smaller size: for the record)"
        add("c5", f"{wl}: pg_basebackup time / dm-red copier join time", r, goal,
            r is not None and (r >= 10 if top else True))
    if len(adds) > 1:
        (ns, wls), (nl, wll) = adds[0], adds[-1]
        small = c5[wls].get("dm-red", {}).get("seconds")
        large = c5[wll].get("dm-red", {}).get("seconds")
        if small and large:
            r = large["median"] / small["median"] if small["median"] else None
            add("c5", f"dm-red replica add, scale {nl} / scale {ns} time", r,
                "constant (<= 1.5)", r is not None and r <= 1.5)
    return goals


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.2f}G"
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.1f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cfg_order(cmp_, cfgs):
    order = CMPS.get(cmp_, ("", None, []))[2]
    if cmp_ == "c4":
        return sorted(cfgs, key=lambda c: (chunk_bytes(c) is None, chunk_bytes(c) or 0, c))
    return [c for c in order if c in cfgs] + sorted(c for c in cfgs if c not in order)


def metric_order(mets):
    return [m for m in METRIC_ORDER if m in mets] + sorted(m for m in mets if m not in METRIC_ORDER)


def text_report(s, goals, infos):
    out = []
    for info in infos:
        out.append("set-up: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    for cmp_ in sorted(s):
        title, base, _ = CMPS.get(cmp_, (cmp_, None, []))
        out.append("")
        out.append(f"== {cmp_}: {title}" + (f" (ratios against {base})" if base else ""))
        for wl in sorted(s[cmp_]):
            cfgs = s[cmp_][wl]
            mets = metric_order({m for c in cfgs.values() for m in c})
            out.append(f"  {wl}")
            head = f"    {'config':<16}" + "".join(f"{m:>26}" for m in mets)
            out.append(head)
            for cfg in cfg_order(cmp_, cfgs):
                cells = []
                for m in mets:
                    st = cfgs[cfg].get(m)
                    if st is None:
                        cells.append(f"{'-':>26}")
                        continue
                    cell = f"{fmt(st['median'])} ±{st['spread_pct']:.0f}%"
                    r = ratio(s, cmp_, wl, cfg, base, m) if base and cfg != base else None
                    if r is not None:
                        cell += f" ({r:.2f}x)"
                    cells.append(f"{cell:>26}")
                out.append(f"    {cfg:<16}" + "".join(cells))
    if goals:
        out.append("")
        out.append("== goals")
        for g in goals:
            met = {True: "met", False: "MISSED", None: "no data"}[g["met"]]
            out.append(f"  [{met:>7}] {g['cmp']} {g['what']}: {fmt(g['value'])} (goal {g['goal']})")
    n = sum(1 for g in goals if g["met"] is False)
    out.append("")
    out.append(f"{len(goals)} goals checked, {n} missed; the spread is (max - min) / median "
               "over the repetitions")
    return "\n".join(out) + "\n"


def q(text):
    """A label from the raw files, safe inside a gnuplot string or data file."""
    return "".join(ch for ch in str(text) if ch not in "'\"\\\n")


def gnuplot_bars(path_png, title, ylabel, labels, series, hline=None):
    """A clustered bar chart: labels on x, one bar per series (name, values)."""
    dat = path_png[:-4] + ".dat"
    with open(dat, "w", encoding="utf-8") as f:
        f.write("label " + " ".join(f'"{q(n)}"' for n, _ in series) + "\n")
        for i, lab in enumerate(labels):
            f.write(f'"{q(lab)}" ' + " ".join(
                "NaN" if v[i] is None else repr(v[i]) for _, v in series) + "\n")
    plot = ", ".join(
        f"'{dat}' using {j + 2}:xtic(1) title columnheader({j + 2})" for j in range(len(series)))
    script = [
        "set terminal pngcairo size 1000,560 noenhanced",
        f"set output '{path_png}'",
        f"set title '{q(title)}'",
        f"set ylabel '{q(ylabel)}'",
        "set style data histogram", "set style histogram cluster gap 1",
        "set style fill solid 0.8 border -1", "set boxwidth 0.9",
        "set xtics rotate by -30", "set grid ytics", "set key outside top right",
        "set yrange [0:*]",
    ]
    if hline is not None:
        script.append(f"set arrow from graph 0, first {hline} to graph 1, first {hline} nohead dt 2")
    script.append("plot " + plot)
    return script


def gnuplot_lines(path_png, title, xlabel, ylabel, xs, series, logx=True):
    dat = path_png[:-4] + ".dat"
    with open(dat, "w", encoding="utf-8") as f:
        for i, x in enumerate(xs):
            f.write(f"{x} " + " ".join("NaN" if v[i] is None else repr(v[i])
                                       for _, v in series) + "\n")
    plot = ", ".join(f"'{dat}' using 1:{j + 2} with linespoints title '{q(n)}'"
                     for j, (n, _) in enumerate(series))
    script = ["set terminal pngcairo size 1000,560 noenhanced", f"set output '{path_png}'",
              f"set title '{q(title)}'", f"set xlabel '{q(xlabel)}'",
              f"set ylabel '{q(ylabel)}'",
              "set grid", "set key outside top right", "set yrange [0:*]"]
    if logx:
        script.append("set logscale x 2")
    script.append("plot " + plot)
    return script


def make_plots(s, outdir):
    """PNG plots of the comparisons and the chunk sweep; returns the files."""
    if not shutil.which("gnuplot"):
        raise InputError("gnuplot not found (tools/install-deps.sh installs gnuplot-nox)")
    os.makedirs(outdir, exist_ok=True)
    jobs = []
    # c1-c3: each configuration's median IOPS as a ratio to the baseline's,
    # per workload (absolute IOPS differ by orders of magnitude between 4 KiB
    # and 1 MiB workloads); the dashed line is the goal
    for cmp_, goal in (("c1", 0.98), ("c2", 0.5), ("c2a", 1.0), ("c2k", 1.0), ("c3", 1.0)):
        if cmp_ not in s:
            continue
        base = CMPS[cmp_][1]
        wls = sorted(s[cmp_])
        cfgs = [c for c in cfg_order(cmp_, {c for w in wls for c in s[cmp_][w]}) if c != base]
        series = [(c, [ratio(s, cmp_, w, c, base, "iops") for w in wls]) for c in cfgs]
        png = os.path.join(outdir, f"{cmp_}-iops-ratio.png")
        jobs.append((png, gnuplot_bars(png, f"{cmp_}: {CMPS[cmp_][0]}",
                                       f"median IOPS / {base}", wls, series, hline=goal)))
    if "c4" in s:
        for wl in sorted(s["c4"]):
            cfgs = cfg_order("c4", s["c4"][wl])
            xs = [chunk_bytes(c) // 1024 for c in cfgs if chunk_bytes(c)]
            cfgs = [c for c in cfgs if chunk_bytes(c)]
            mets = metric_order({m for c in cfgs for m in s["c4"][wl][c]})
            for m in mets:
                vals = [s["c4"][wl][c].get(m, {}).get("median") for c in cfgs]
                if all(v is None for v in vals):
                    continue
                png = os.path.join(outdir, f"c4-{wl}-{m}.png")
                jobs.append((png, gnuplot_lines(png, f"c4 chunk size sweep: {wl}, {m}",
                                                "chunk size (KiB)", m, xs, [(m, vals)])))
    made = []
    for png, script in jobs:
        r = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True,
                           capture_output=True, check=False)
        if r.returncode != 0 or not os.path.exists(png):
            raise InputError(f"gnuplot failed for {png}: {r.stderr.strip()[:300]}")
        made.append(png)
    return made


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("raw", nargs="+", help="raw result files (JSON lines)")
    ap.add_argument("--json", help="write the summary as JSON here")
    ap.add_argument("--text", help="write the text report here too")
    ap.add_argument("--plots", help="write PNG plots into this directory")
    a = ap.parse_args(argv)
    try:
        rows, infos = read_raw(a.raw)
        if not rows:
            raise InputError("no BENCH lines in " + ", ".join(a.raw))
        s = summarize(rows)
        goals = check_goals(s)
        plots = make_plots(s, a.plots) if a.plots else []
    except InputError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    text = text_report(s, goals, infos)
    sys.stdout.write(text)
    if a.text:
        with open(a.text, "w", encoding="utf-8") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"setup": infos, "summary": s, "goals": goals, "plots": plots},
                      f, indent=1, sort_keys=True)
            f.write("\n")
    for p in plots:
        print(f"plot: {p}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
