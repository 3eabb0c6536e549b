"""The benchmark's results: medians, ratios to kernel overlayfs, targets,
the text table (one per condition) and the JSON."""

import json
import statistics

from fixtures import scale_label

# metric -> (unit, kind); kind 'time' (lower is better), 'rate' (higher),
# 'mem', 'cpu', 'size' (shown, no ratio)
METRICS = [
    ("mount100_cold", "ms", "time"), ("mount100_warm", "ms", "time"),
    ("find_cold", "s", "time"), ("find_warm", "s", "time"),
    ("stat_cold", "s", "time"), ("stat_warm", "s", "time"),
    ("lsR_cold", "s", "time"), ("lsR_warm", "s", "time"),
    ("readall_cold", "s", "time"), ("readall_warm", "s", "time"),
    ("seqread_cold", "s", "time"), ("seqread_warm", "s", "time"),
    ("randread", "IOPS", "rate"),
    ("copyup_ext4", "s", "time"), ("copyup_ext4_sync", "s", "time"),
    ("copyup_xfs", "ms", "time"),
    ("untar", "s", "time"), ("rmrf", "s", "time"),
    ("seqwrite_fsync", "s", "time"), ("randwrite", "IOPS", "rate"),
    ("churn", "s", "time"),
    ("chown", "s", "time"), ("chown_growth", "MiB", "size"),
    ("chmod", "s", "time"), ("chmod_growth", "MiB", "size"),
    ("rename50k", "ms", "time"), ("rename2k", "ms", "time"), ("rename10", "ms", "time"),
    ("rename_growth", "MiB", "size"),
    ("lsl_cold", "s", "time"), ("lsl_warm", "s", "time"),
    ("find_warm_1L", "s", "time"), ("stat_cold_1L", "s", "time"),
    ("stat_warm_1L", "s", "time"),
    ("find_warm_100L", "s", "time"), ("stat_cold_100L", "s", "time"),
    ("stat_warm_100L", "s", "time"),
    ("rss_after_stat", "MiB", "mem"), ("cpu_stat", "s", "cpu"),
]


def scale_metrics(sizes):
    out = []
    for n in sizes:
        lab = scale_label(n)
        out += [("scale%s_stat_cold" % lab, "s", "time"), ("scale%s_stat_warm" % lab, "s", "time"),
                ("scale%s_rss" % lab, "MiB", "mem")]
    return out


# Targets for layerfs: ratio to kernel overlayfs unless said otherwise.
# Issue 6's, with issue 15's where it names one (untar, churn, randwrite,
# rmrf, lsR, readall, seqread, find).
TARGETS = {
    "find_warm": 1.0, "stat_warm": 1.0,
    "find_cold": 1.3, "stat_cold": 1.3, "lsR_cold": 1.3,
    "lsR_warm": 1.5, "readall_warm": 1.5, "readall_cold": 1.3,
    "seqread_warm": 1.1, "seqread_cold": 1.2, "randread": 1.1,
    "randwrite": 2.0, "seqwrite_fsync": 1.2, "untar": 2.0, "churn": 2.0,
    "rmrf": 1.3, "mount100_cold": 1.5, "mount100_warm": 1.5,
    "copyup_ext4": "<=fuse-overlayfs", "copyup_xfs": "<=20ms",
    "rss_after_stat": "<=22MiB",
}

CONDITION_TITLE = {
    "quiet": "quiet (no other load from the benchmark)",
    "load": "loaded: a steady `stress-ng --cpu 1` beside each measurement",
}


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def summarize(results, metrics):
    """results: metric -> system -> [values] of one condition."""
    out = {}
    for metric, unit, kind in metrics:
        per = results.get(metric)
        if not per:
            continue
        row = {}
        base = per.get("overlay")
        for s, vals in per.items():
            med = statistics.median(vals)
            e = dict(median=med, min=min(vals), max=max(vals), values=vals)
            if base and s != "overlay" and kind in ("time", "rate"):
                bm = statistics.median(base)
                if med > 0 and bm > 0:
                    e["ratio"] = med / bm if kind == "time" else bm / med
                    pairs = [(v / b if kind == "time" else b / v)
                             for v, b in zip(vals, base) if v > 0 and b > 0]
                    if pairs:
                        e["ratio_min"], e["ratio_max"] = min(pairs), max(pairs)
            row[s] = e
        out[metric] = dict(unit=unit, kind=kind, target=TARGETS.get(metric), systems=row)
    return out


def verdict(metric, summ):
    t = TARGETS.get(metric)
    lf = summ["systems"].get("layerfs")
    if t is None or lf is None:
        return ""
    if isinstance(t, float):
        r = lf.get("ratio")
        if r is None:
            return ""
        return "met" if r <= t else "MISS x%.2f" % (r / t)
    if t == "<=fuse-overlayfs":
        fo = summ["systems"].get("fuse-overlayfs")
        if not fo:
            return ""
        return "met" if lf["median"] <= fo["median"] else "MISS x%.2f" % (lf["median"] / fo["median"])
    if t == "<=20ms":
        return "met" if lf["median"] <= 20 else "MISS x%.1f" % (lf["median"] / 20)
    if t == "<=22MiB":
        return "met" if lf["median"] <= 22 else "MISS x%.2f" % (lf["median"] / 22)
    return ""


def versus_fuse_overlayfs(summ):
    """'ahead' or 'behind xF' for layerfs against fuse-overlayfs on a row
    of time or rate, '' where either is missing."""
    lf = summ["systems"].get("layerfs")
    fo = summ["systems"].get("fuse-overlayfs")
    if not lf or not fo or summ["kind"] not in ("time", "rate", "mem"):
        return ""
    a, b = lf["median"], fo["median"]
    if summ["kind"] == "rate":
        a, b = b, a
    if a <= 0 or b <= 0:
        return ""
    return "ahead" if a <= b else "behind x%.2f" % (a / b)


def table(summ, systems, metrics):
    hdr = ["workload", "unit"]
    for s in systems:
        hdr.append(s)
        if s != "overlay":
            hdr.append("ratio")
    hdr += ["target", "layerfs", "vs f-o"]
    rows = [hdr]
    for metric, unit, kind in metrics:
        if metric not in summ:
            continue
        sm = summ[metric]
        row = [metric, unit]
        for s in systems:
            e = sm["systems"].get(s)
            row.append("-" if e is None else
                       "%s [%s-%s]" % (fmt(e["median"]), fmt(e["min"]), fmt(e["max"])))
            if s != "overlay":
                row.append(("%.2fx" % e["ratio"]) if e and "ratio" in e else "")
        t = TARGETS.get(metric)
        row.append(("<=%.1fx" % t) if isinstance(t, float) else (t or ""))
        row.append(verdict(metric, sm))
        row.append(versus_fuse_overlayfs(sm))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def scale_growth(summ, systems, sizes):
    """How each system's stat walk and RSS grow from one size to the next."""
    if len(sizes) < 2:
        return []
    lines = ["growth from %s files (time or RSS at the larger size / at the smaller):"
             % " to ".join(scale_label(n) for n in sizes)]
    for s in systems:
        cells = []
        for what in ("stat_cold", "stat_warm", "rss"):
            vals = []
            for n in sizes:
                e = summ.get("scale%s_%s" % (scale_label(n), what), {}).get("systems", {}).get(s)
                vals.append(e["median"] if e else None)
            steps = ["x%.1f" % (b / a) if a and b else "-" for a, b in zip(vals, vals[1:])]
            cells.append("%s %s" % (what, " ".join(steps)))
        if any("x" in c for c in cells):
            lines.append("  %-28s %s" % (s, "   ".join(cells)))
    return lines if len(lines) > 1 else []


def ahead_count(summ):
    rows = [versus_fuse_overlayfs(v) for v in summ.values()]
    rows = [r for r in rows if r]
    return sum(1 for r in rows if r == "ahead"), len(rows)


def render(b):
    """The text report of Bench b (and its JSON, when asked)."""
    m = b.meta
    metrics = METRICS + scale_metrics(b.scale_sizes)
    lines = ["layerfs benchmark  %s  kernel %s  layers=%d  reps=%d%s  layerfs %s  %s"
             % (m["date"], m["kernel"], m["layers"], m["reps"],
                "  QUICK" if m["quick"] else "", m["layerfs_git"], m["fuse_overlayfs"] or ""),
             "median [min-max]; ratio = slowdown vs kernel overlayfs "
             "(time/time, or IOPS_overlay/IOPS); target = issues 6 and 15, for layerfs; "
             "vs f-o = layerfs against fuse-overlayfs"]
    summaries = {}
    for cond in b.conditions:
        summ = summarize(b.results.get(cond, {}), metrics)
        summaries[cond] = summ
        lines += ["", "== %s" % CONDITION_TITLE[cond]]
        lines += table(summ, b.systems, metrics)
        lines += scale_growth(summ, b.systems, b.scale_sizes)
        ahead, n = ahead_count(summ)
        if n:
            lines.append("layerfs ahead of fuse-overlayfs on %d of %d rows" % (ahead, n))
        la = b.loads.get(cond)
        if la:
            lines.append("host load average (1 min) before each run: median %.1f, max %.1f"
                         % (statistics.median(la), max(la)))
    fuse_sys = [s for s in b.systems if s.partition(":")[0] in ("layerfs", "fuse-overlayfs")]
    for cond in b.conditions:
        cpu, hwm = b.cpu.get(cond, {}), b.hwm.get(cond, {})
        if not cpu or not fuse_sys:
            continue
        lines += ["", "daemon CPU seconds per mount (median) / peak RSS MiB (VmHWM, max), %s" % cond]
        for wl in b.wls:
            if wl not in cpu:
                continue
            cells = []
            for s in fuse_sys:
                c = cpu[wl].get(s)
                h = [x for x in hwm.get(wl, {}).get(s, []) if x is not None]
                cells.append("%s %s / %s" % (s, fmt(statistics.median(c)) if c else "-",
                                             fmt(max(h)) if h else "-"))
            lines.append("  %-12s %s" % (wl, "   ".join(cells)))
    if b.errors:
        lines += ["", "ERRORS (%d):" % len(b.errors)] + ["  " + e for e in b.errors]
    lines.append("the loaded condition runs `%s` beside each measurement; the benchmark "
                 "alone keeps the load average near 1 (quiet) or 2 (loaded): more means "
                 "other work shared the %d cores" % (" ".join(b.load_cmd), b.ncpu))
    lines.append("elapsed %.0f s" % m["elapsed_s"])
    text = "\n".join(lines) + "\n"
    if b.args.table:
        with open(b.args.table, "w") as f:
            f.write(text)
    if b.args.json:
        with open(b.args.json, "w") as f:
            json.dump(dict(meta=m, results=summaries, daemon_cpu_s=b.cpu,
                           daemon_hwm_mib=b.hwm, host_load=b.loads, errors=b.errors), f, indent=1)
            f.write("\n")
    return text
