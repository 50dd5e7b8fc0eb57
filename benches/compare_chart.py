"""The chart of `benches/compare.py --chart FILE.svg`: per scenario, each
server's ratio to a baseline server (hyper by default) in requests per
second and in server CPU per request, and for the idle scenarios in KiB per
idle connection. A bar is the median of the per-round ratios (rounds are
interleaved, so round r of a server and round r of the baseline ran side by
side); its whisker spans the smallest to the largest per-round ratio.

Needs matplotlib (`python3 -m pip install matplotlib`); compare.py imports
this module only when asked for a chart.
"""
import statistics

# (panel title, key in a run's results, scenarios it applies to)
PANELS = [
    ("requests/s vs {base} (higher is better)", "rate", "load"),
    ("server CPU per request vs {base} (lower is better)", "cpu_s_per_100k", "load"),
    ("RSS per idle connection vs {base} (lower is better)", "kib_per_conn", "idle"),
]


def round_ratios(runs, base_runs, key):
    """Per-round ratios of `key` (run i against baseline run i), skipping
    rounds where either failed."""
    out = []
    for run, base in zip(runs, base_runs):
        if "error" in run or "error" in base:
            continue
        if run.get(key) is None or not base.get(key):
            continue
        out.append(run[key] / base[key])
    return out


def ratio_rows(results, key, scenarios, servers, base, bases=None):
    """[(scenario, server, median, low, high)] for every server but `base`
    (or the scenario's own baseline in `bases`) that has at least one round
    with a ratio."""
    rows = []
    for scenario in scenarios:
        scenario_base = (bases or {}).get(scenario, base)
        base_runs = results.get((scenario, scenario_base))
        if not base_runs:
            continue
        for server in servers:
            if server == scenario_base:
                continue
            ratios = round_ratios(results.get((scenario, server), []), base_runs, key)
            if ratios:
                rows.append((scenario, server, statistics.median(ratios), min(ratios), max(ratios)))
    return rows


def write_chart(path, results, scenarios, servers, base="hyper", title=None, idle=(), bases=None):
    """Writes the chart to `path` (its format from the extension, e.g.
    .svg). `results` maps (scenario, server) to the list of per-round
    result dicts that compare.py collects; `bases` names another baseline
    for some scenarios (tcp-echo: tokio-echo). Returns the number of bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for heading, key, kind in PANELS:
        wanted = [s for s in scenarios if (s in idle) == (kind == "idle")]
        rows = ratio_rows(results, key, wanted, servers, base, bases)
        if rows:
            panels.append((heading.format(base=base), rows))
    if not panels:
        raise ValueError(f"nothing to chart: no scenario has both {base} and another server")
    others = [s for s in servers if s != base]
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(others)}
    heights = [max(2.0, 0.32 * len(rows) + 1.0) for _, rows in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    bars = 0
    for ax, (heading, rows) in zip(axes[:, 0], panels):
        labels = []
        for i, (scenario, server, med, low, high) in enumerate(rows):
            ax.barh(i, med, color=colours[server], xerr=[[med - low], [high - med]],
                    capsize=3, label=server)
            ax.text(high, i, f"  {med:.2f}×", va="center", fontsize=8)
            labels.append(f"{scenario} · {server}")
            bars += 1
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(heading, fontsize=10)
        ax.set_xlim(0, max(high for *_, high in rows) * 1.18)
    if title:
        fig.suptitle(title, fontsize=10)
    # Leave the top 0.6 inch to the title.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / sum(heights)) if title else None)
    fig.savefig(path)
    plt.close(fig)
    return bars
