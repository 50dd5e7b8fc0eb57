#!/usr/bin/env python3
"""Issue 19's targets, read from one saved `benches/compare.py --json` run.

    python3 benches/compare_targets.py benches/results/compare.json

Prints a markdown table: per target, each percore server's figure as the
median of per-round ratios to the target's reference server (round r of a
server against round r of the reference: they ran side by side), with the
smallest and largest round, and the canned floors beside them, so a target
that sits under the floor shows as such.
"""
import os, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import load_results  # noqa: E402
from compare_chart import round_ratios  # noqa: E402

PERCORE = ["percore-uring", "percore-epoll"]
FLOORS = ["percore-canned", "canned-epoll"]

# (target, scenario, key, reference server, goal as text, goal test on the median ratio)
TARGETS = [
    ("pipelined ×16 requests/s", "pipelined", "rate", "may-minihttp", "≥ 1.00×", lambda r: r >= 1.0),
    ("pipelined ×16 server CPU per request", "pipelined", "cpu_s_per_100k", "may-minihttp", "≤ 1.00×", lambda r: r <= 1.0),
    ("plaintext keep-alive server CPU per request", "plaintext", "cpu_s_per_100k", "hyper", "≤ 0.85×", lambda r: r <= 0.85),
    ("WebSocket 32-byte echo server CPU per message", "ws-echo", "cpu_s_per_100k", "hyper", "≤ 0.80×", lambda r: r <= 0.80),
]


def ratio_cell(results, scenario, server, base, key):
    runs = results.get((scenario, server))
    base_runs = results.get((scenario, base))
    if not runs or not base_runs:
        return None, "-"
    ratios = round_ratios(runs, base_runs, key)
    if not ratios:
        return None, "n/a"
    med = statistics.median(ratios)
    return med, f"{med:.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def main():
    results, _, servers, meta = load_results(sys.argv[1])
    if meta:
        print(f"Run {meta['started_utc']}, percore `{meta['product_commit']}`, {meta['machine']}.\n")
    print("| target | reference | goal | " + " | ".join(PERCORE) + " | " + " | ".join(f"floor: {f}" for f in FLOORS) + " |")
    print("|---|---|---|" + "---|" * (len(PERCORE) + len(FLOORS)))
    for name, scenario, key, base, goal, ok in TARGETS:
        cells = []
        for server in PERCORE + FLOORS:
            med, text = ratio_cell(results, scenario, server, base, key)
            if server in PERCORE and med is not None:
                text += " met" if ok(med) else " **not met**"
            cells.append(text)
        print(f"| {name} | {base} | {goal} | " + " | ".join(cells) + " |")
    idle = [s for s in ("idle-10k", "idle-50k") if any((s, x) in results for x in servers)]
    for scenario in idle:
        print(f"\n{scenario}: KiB of server RSS per idle keep-alive connection, median (min–max) "
              "(target ≤ 2 KiB on both drivers and below every peer)\n")
        print("| server | KiB / connection |")
        print("|---|---|")
        for server in servers:
            ok = [x for x in results.get((scenario, server), []) if "error" not in x]
            if ok:
                kib = [x["kib_per_conn"] for x in ok]
                print(f"| {server} | {statistics.median(kib):.1f} ({min(kib):.1f}–{max(kib):.1f}) |")


if __name__ == "__main__":
    main()
