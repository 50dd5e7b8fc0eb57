#!/usr/bin/env python3
"""Per-round CPU ratios of one scenario from a compare.py / compare_base.py
JSON file: for each server, its CPU per request over the baseline's in the
same round, the median of those ratios (what the tables print), the ratio
of the two servers' medians, and the ratio of their median rates.

    python3 benches/round_ratios.py RESULTS.json pipelined may-minihttp
"""
import json
import statistics as st
import sys


def main():
    path, scenario, base = sys.argv[1:4]
    data = json.load(open(path))
    rounds = {k.split("/", 1)[1]: v for k, v in data.items()
              if k.startswith(scenario + "/")}
    cpu = lambda runs: [r["cpu_s_per_100k"] for r in runs]
    for server, runs in rounds.items():
        print(server, [round(x, 3) for x in cpu(runs)])
    b = rounds[base]
    for server, runs in rounds.items():
        if server == base:
            continue
        r = [x / y for x, y in zip(cpu(runs), cpu(b))]
        rate = st.median([x["rate"] for x in runs]) / st.median([x["rate"] for x in b])
        print(f"{scenario}/{server}: per-round CPU ratio median {st.median(r):.3f} "
              f"{[round(x, 2) for x in r]}; ratio of medians "
              f"{st.median(cpu(runs)) / st.median(cpu(b)):.3f}; rate ratio {rate:.3f}")


if __name__ == "__main__":
    main()
