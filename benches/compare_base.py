#!/usr/bin/env python3
"""compare.py with a second demo binary in the same interleaved rounds.

    BASE_DEMO=/tmp/demo-before python3 benches/compare_base.py --servers percore-uring,percore-uring-base,may-minihttp --scenarios pipelined --rounds 3 --duration 5 --no-build --json /tmp/ab.json --markdown

Adds the servers `percore-uring-base` and `percore-epoll-base`: the demo
at `BASE_DEMO` (a copy of `target/release/examples/demo` built before a
change), so a change and its base are measured side by side. With
`SPLIT=FILE` it also writes each measurement's server user and system
CPU ticks (from /proc/PID/stat) to FILE as JSON. Every other option is
compare.py's.
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("compare", os.path.join(HERE, "compare.py"))
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

BASE = os.environ.get("BASE_DEMO")
if not BASE or not os.access(BASE, os.X_OK):
    sys.exit("BASE_DEMO must name the base demo binary")


def base(driver):
    return lambda addr, cores: [BASE, "--listen", addr, "--cores", str(cores), "--driver", driver]


compare.SERVERS["percore-uring-base"] = (base("uring"), compare.EVERYTHING)
compare.SERVERS["percore-epoll-base"] = (base("epoll"), compare.EVERYTHING)

SPLIT = os.environ.get("SPLIT")
if SPLIT:
    seen = {}
    split = []

    def cpu_ticks(pid):
        user, system = compare.cpu_ticks_split(pid)
        first = seen.setdefault(pid, [(user, system), None])
        first[1] = (user, system)
        return user + system

    measure = compare.measure

    def measured(server, scenario, opts):
        seen.clear()
        result = measure(server, scenario, opts)
        # The server's ticks are read first, before the load starts.
        pid, ((u0, s0), (u1, s1)) = next(iter(seen.items()))
        split.append({"server": server, "scenario": scenario, "user_ticks": u1 - u0,
                      "system_ticks": s1 - s0, "tick_hz": compare.TICK, "result": result})
        with open(SPLIT, "w") as f:
            json.dump(split, f)
        return result

    compare.cpu_ticks = cpu_ticks
    compare.measure = measured

sys.argv[0] = os.path.join(HERE, "compare.py")
compare.main()
