#!/usr/bin/python3
"""Tables of the mining benchmark (bench/mining_benchmark.sh, docs/MINING.md "The benchmark
protocol") from the runs' rounds.jsonl files.

usage: mining_analysis.py RUNS [--draw-seconds 7,35] [--boot 10000]
RUNS holds RUNS/<data set>/<start>/seed-<s>/<strategy>/rounds.jsonl. For every data set and
start it prints, per strategy, over the seeds: the final AP50, AP75 and COCO AP (mean and
standard deviation), the human seconds and boxes drawn spent, the area under the
AP50-versus-seconds curve up to the smallest final seconds of all strategies (normalised by
that range, so it reads as an average AP50), and the human seconds needed to reach 95 % and
97 % of full's final AP50 (the same seed's full run). Then paired differences between
strategies (same seed) with 95 % bootstrap intervals over seeds. Everything is computed once
per --draw-seconds value: human seconds are recomputed from the ledger's counts (images
opened, boxes drawn, boxes verified) with that cost per drawn box, so 35 s (drag-drawing
instead of extreme clicking) is the sensitivity check of the protocol.

Curves: the phase-1 records give the starting point (the initial labelled set's seconds and
the phase-1 model's AP); each mining round adds a point (cumulative seconds, AP after the
round). Between points AP is held at the last value reached (a person who stops labelling
there has that model), which is what "seconds to reach X" and the area use.
"""
import argparse
import glob
import json
import math
import os
import random
import statistics
import sys

COST_IMAGE, COST_VERIFY = 2.0, 1.5


def load_run(path, draw_seconds):
    records = [json.loads(line) for line in open(path) if line.strip()]
    if not records:
        return None
    points = []
    for r in records:
        if r.get("ap50") is None:
            continue
        seconds = (r.get("human_images", 0) * COST_IMAGE + r.get("human_draws", 0) * draw_seconds
                   + r.get("human_verifies", 0) * COST_VERIFY
                   + r.get("human_adjusts", 0) * 3.5)
        points.append((r.get("phase", 2), seconds, r["ap50"], r.get("ap75"), r.get("ap_coco"),
                       r.get("human_draws", 0), r.get("pseudo_precision")))
    if not points:
        return None
    # the curve: the last phase-1 point (the start), then every mining round in order
    phase1 = [p for p in points if p[0] == 1]
    mining = [p for p in points if p[0] == 2]
    curve = ([phase1[-1]] if phase1 else []) + mining
    return {"curve": [(p[1], p[2]) for p in curve], "final": curve[-1],
            "pseudo": [p[6] for p in mining if p[6] is not None]}


def seconds_to_reach(curve, target):
    for seconds, ap in curve:
        if ap >= target:
            return seconds
    return math.inf


def area(curve, until):
    """Mean AP50 over [start, until] with AP held between points."""
    start = curve[0][0]
    if until <= start:
        return curve[0][1]
    total, prev_s, prev_ap = 0.0, start, curve[0][1]
    for seconds, ap in curve[1:]:
        if seconds >= until:
            break
        total += prev_ap * (seconds - prev_s)
        prev_s, prev_ap = seconds, ap
    total += prev_ap * (until - prev_s)
    return total / (until - start)


def bootstrap_ci(diffs, n_boot, rng):
    finite = [d for d in diffs if math.isfinite(d)]
    if len(finite) != len(diffs) or not diffs:
        return None
    means = []
    for _ in range(n_boot):
        sample = [rng.choice(diffs) for _ in diffs]
        means.append(sum(sample) / len(sample))
    means.sort()
    return means[int(0.025 * n_boot)], means[int(0.975 * n_boot) - 1]


def fmt(values, digits=3):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def fmt_seconds(values, n_seeds):
    reached = [v for v in values if math.isfinite(v)]
    if not reached:
        return "not reached"
    text = f"{statistics.mean(reached):.0f}"
    if len(reached) < n_seeds:
        text += f" ({len(reached)}/{n_seeds} seeds)"
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--draw-seconds", default="7,35")
    ap.add_argument("--boot", type=int, default=10000)
    args = ap.parse_args()
    rng = random.Random(1)
    files = sorted(glob.glob(os.path.join(args.runs, "*", "*", "seed-*", "*", "rounds.jsonl")))
    if not files:
        print(f"no runs under {args.runs}", file=sys.stderr)
        return 1
    for draw in [float(x) for x in args.draw_seconds.split(",")]:
        print(f"\n# Human seconds with {draw:g} s per drawn box "
              f"({COST_IMAGE:g} s per image, {COST_VERIFY:g} s per verified box)\n")
        groups = {}
        for f in files:
            parts = f.split(os.sep)
            ds, start, seed, strategy = parts[-5], parts[-4], parts[-3], parts[-2]
            run = load_run(f, draw)
            if run:
                groups.setdefault((ds, start), {}).setdefault(strategy, {})[seed] = run
        for (ds, start), by_strategy in sorted(groups.items()):
            seeds = sorted(set().union(*[set(v) for v in by_strategy.values()]))
            full = by_strategy.get("full", {})
            others = [s for s in by_strategy if s != "full"]
            until = min(run["final"][1] for s in others for run in by_strategy[s].values()) \
                if others else None
            print(f"## {ds}, start {start}, seeds {', '.join(s[5:] for s in seeds)}\n")
            if until is not None:
                print(f"Area: mean AP50 from each run's start to {until:.0f} s (the smallest "
                      "final seconds of the strategies other than full).\n")
            print("| strategy | final AP50 | AP75 | COCO AP | human s | boxes drawn | "
                  "area AP50 | s to 95 % full | s to 97 % full | share of full's s (97 %) | "
                  "pseudo precision (IoU 0.8) |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            reach = {}
            for strategy in sorted(by_strategy):
                runs = by_strategy[strategy]
                finals = [r["final"] for r in runs.values()]
                r95, r97, areas, share = [], [], [], []
                for seed, r in runs.items():
                    if seed in full:
                        target = full[seed]["final"][2]
                        r95.append(seconds_to_reach(r["curve"], 0.95 * target))
                        r97.append(seconds_to_reach(r["curve"], 0.97 * target))
                        share.append(r97[-1] / full[seed]["final"][1])
                    if until is not None and strategy != "full":
                        areas.append(area(r["curve"], until))
                reach[strategy] = {seed: (seconds_to_reach(r["curve"], 0.97 * full[seed]["final"][2])
                                          if seed in full else math.inf,
                                          area(r["curve"], until) if until else math.nan)
                                   for seed, r in runs.items()}
                pseudo = [p for r in runs.values() for p in r["pseudo"][:1]]
                print(f"| {strategy} | {fmt([f[2] for f in finals])} | {fmt([f[3] for f in finals])} "
                      f"| {fmt([f[4] for f in finals])} | {fmt([f[1] for f in finals], 0)} "
                      f"| {fmt([f[5] for f in finals], 0)} | {fmt(areas)} "
                      f"| {fmt_seconds(r95, len(runs))} | {fmt_seconds(r97, len(runs))} | {fmt(share, 2)} "
                      f"| {fmt(pseudo)} |")
            print()
            pairs = [("asm-trust", "random-verify"), ("asm-verify", "random-verify"),
                     ("asm-trust", "random"), ("asm-verify", "random"), ("random-verify", "random"),
                     ("uncertainty", "random")]
            lines = []
            for a, b in pairs:
                if a not in reach or b not in reach:
                    continue
                common = sorted(set(reach[a]) & set(reach[b]))
                d_area = [reach[a][s][1] - reach[b][s][1] for s in common]
                d_sec = [reach[a][s][0] - reach[b][s][0] for s in common]
                ratio = [reach[a][s][0] / reach[b][s][0] for s in common
                         if math.isfinite(reach[a][s][0]) and math.isfinite(reach[b][s][0])]
                ci_area = bootstrap_ci(d_area, args.boot, rng)
                ci_sec = bootstrap_ci(d_sec, args.boot, rng)
                lines.append(
                    f"| {a} - {b} | {len(common)} | {fmt(d_area)} | "
                    f"{'[%.3f, %.3f]' % ci_area if ci_area else '-'} | "
                    f"{fmt(d_sec, 0) if all(map(math.isfinite, d_sec)) else 'not reached by all'} | "
                    f"{'[%.0f, %.0f]' % ci_sec if ci_sec else '-'} | "
                    f"{fmt(ratio, 2) if len(ratio) == len(common) else '-'} |")
            if lines:
                print("Paired differences (same seed), 95 % bootstrap interval of the mean over seeds:\n")
                print("| pair | seeds | area AP50 | interval | s to 97 % full | interval | "
                      "ratio of s to 97 % |")
                print("|---|---|---|---|---|---|---|")
                print("\n".join(lines))
                print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
