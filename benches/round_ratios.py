#!/usr/bin/env python3
"""Per-round CPU ratios of one scenario from a compare.py / compare_base.py
JSON file: for each server, its CPU per request over the baseline's in the
same round, the median of those ratios (what the tables print), the ratio
of the two servers' medians, and the ratio of their median rates. Failed
rounds are left out, as in the tables.

    python3 benches/round_ratios.py RESULTS.json pipelined may-minihttp
"""
import os
import statistics as st
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import load_results  # noqa: E402
from compare_chart import round_ratios  # noqa: E402


def main():
    path, scenario, base = sys.argv[1:4]
    results, _, servers, _ = load_results(path)
    runs = {s: results[(scenario, s)] for s in servers if (scenario, s) in results}
    ok = {s: [r for r in rs if "error" not in r] for s, rs in runs.items()}
    for server, good in ok.items():
        print(server, [round(r["cpu_s_per_100k"], 3) for r in good])
    cpu = lambda s: st.median(r["cpu_s_per_100k"] for r in ok[s])
    rate = lambda s: st.median(r["rate"] for r in ok[s])
    for server in runs:
        if server == base or not ok[server] or not ok[base]:
            continue
        r = round_ratios(runs[server], runs[base], "cpu_s_per_100k")
        print(f"{scenario}/{server}: per-round CPU ratio median {st.median(r):.3f} "
              f"{[round(x, 2) for x in r]}; ratio of medians "
              f"{cpu(server) / cpu(base):.3f}; rate ratio {rate(server) / rate(base):.3f}")


if __name__ == "__main__":
    main()
