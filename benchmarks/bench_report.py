"""Statistics and tables of a bench run, and RESULTS.md.

Every figure is a median over repetitions with its min-max range (no best-of-N). Ratios are
paired: for each repetition, the peer's figure divided by tokenwire's reference peer of the same
group in that same repetition; the table shows the median ratio and its range. The reference
peer is fixed per group (bench_defs: ref=True), never chosen after the run."""
import statistics

from bench_run import one_line

NOTES_BEGIN, NOTES_END = "<!-- notes: kept across runs -->", "<!-- /notes -->"
LANGS = {"c": "C", "python": "Python 3.11", "python3.13": "Python 3.13", "node": "Node",
         "python-sync": "Python, sync"}


def metric(cell, r):
    kind = cell["kind"]
    if kind in ("bulk", "fanin"):
        return r["cpu_s"] / r["chunks"] * 1e6 if r.get("chunks") else None
    if kind == "ttft":
        return r["ttft_p50_ms"]
    if kind == "relay":
        return r["cpu_us_per_chunk"]
    raise ValueError(kind)


def med_range(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def summarize(cell, peers, runs):
    """Rows: per peer the medians of its good runs and paired ratios against its group's ref."""
    rows = []
    for p in peers:
        good = [r for r in runs.get(p.id, []) if r.get("ok")]
        bad = [r for r in runs.get(p.id, []) if not r.get("ok")]
        row = {"peer": p.id, "label": p.label, "group": p.group, "lang": getattr(p, "lang", ""),
               "tw": p.tw, "ref": p.ref, "runs": len(good), "failed": len(bad),
               "error": one_line(bad[0].get("error")) if bad else None}
        if good:
            row["median"], row["min"], row["max"] = med_range([metric(cell, r) for r in good])
            for key in ("wall_s", "chunks", "lat_p50_us", "lat_p99_us", "lat_max_us",
                        "rss_per_stream", "ttft_p99_ms", "cold_ms", "cpu_per_req_us",
                        "chunks_per_core_s", "cpu_util", "server_util"):
                vals = [r[key] for r in good if r.get(key) is not None]
                if vals:
                    row[key] = statistics.median(vals)
            row["lat_p99_max_us"] = max((r.get("lat_p99_us") or 0) for r in good)
            row["saturated"] = any(r.get("saturated") for r in good)
            row["complete"] = not bad and not row["saturated"] and all(
                r.get("chunks") == r.get("expected") for r in good)
            row["text_checked"] = all(r.get("sha_ok") or r.get("text_ok") for r in good)
        rows.append(row)
    refs = {r["group"]: r for r in rows if r["ref"] and r.get("median")}
    for row in rows:
        ref = refs.get(row["group"])
        if ref and row.get("median") is not None:
            paired(cell, row, ref, runs)
    return rows


def paired(cell, row, ref, runs):
    """Per-repetition ratios row/ref (repetitions where both ran fine): median, min, max."""
    mine = {r["rep"]: r for r in runs.get(row["peer"], []) if r.get("ok")}
    theirs = {r["rep"]: r for r in runs.get(ref["peer"], []) if r.get("ok")}
    xs = []
    for rep in sorted(set(mine) & set(theirs)):
        a, b = metric(cell, mine[rep]), metric(cell, theirs[rep])
        if a is not None and b:
            xs.append(a / b)
    if xs:
        row["ratio"], row["ratio_min"], row["ratio_max"] = med_range(xs)
        row["ratio_n"] = len(xs)


def best_peer(rows, group=None, lang=None):
    """The pure-language peer with the lowest median among the runs that delivered everything."""
    cand = [r for r in rows if not r["tw"] and r.get("median") is not None and r.get("complete")
            and (group is None or r["group"] == group) and (lang is None or r["lang"] == lang)]
    return min(cand, key=lambda r: r["median"]) if cand else None


def fmt(v, nd=2):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 100:
        return "%.1f" % v
    return "%.*f" % (nd, v)


def rng(r, nd=2):
    if r.get("min") is None or r["runs"] < 2:
        return "-"
    return "%s-%s" % (fmt(r["min"], nd), fmt(r["max"], nd))


def xfmt(r):
    if r.get("ratio") is None:
        return "-"
    if r.get("ratio_n", 0) < 2:
        return "%.2fx" % r["ratio"]
    return "%.2fx (%.2f-%.2f)" % (r["ratio"], r["ratio_min"], r["ratio_max"])


def table(head, body, md):
    if md:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return out + ["| " + " | ".join(b) + " |" for b in body]
    w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head)), "  ".join("-" * x for x in w)]
    return out + ["  ".join(c.ljust(w[i]) for i, c in enumerate(b)) for b in body]


def fanin_cols(r):
    server = r.get("server_util")
    return [fmt(r["median"], 1), rng(r, 1),
            "%s / %s / %s" % (fmt(r["lat_p50_us"] / 1e3, 2), fmt(r["lat_p99_us"] / 1e3, 2),
                              fmt(r["lat_max_us"] / 1e3, 1)),
            fmt(r["rss_per_stream"] / 1024, 1), fmt(r["cpu_util"] * 100, 1),
            fmt(server * 100, 0) if server is not None else "-"]


def table_lines(cell, rows, md):
    kind = cell["kind"]
    body = []
    if kind == "fanin":
        head = ["peer", "runs", "CPU us/event", "range", "latency p50 / p99 / max ms",
                "RSS KiB/stream", "client CPU %", "server CPU %", "x tokenwire (paired)"]
    elif kind == "bulk":
        head = ["peer", "runs", "chunks", "CPU us/chunk", "range", "wall ms", "text",
                "x tokenwire (paired)"]
    elif kind == "ttft":
        head = ["peer", "runs", "warm p50 ms", "range", "warm p99 ms", "cold ms",
                "CPU us/request", "p50 vs best peer of its language ms"]
    else:
        head = ["relay", "runs", "CPU us/chunk", "range", "chunks/s per core", "text",
                "peer / tokenwire (paired)"]
    for r in rows:
        if r["runs"] == 0:
            body.append([r["label"], "0", "FAILED: " + (str(r["error"])[:120] if md else "")]
                        + [""] * (len(head) - 3))
            continue
        runs = "%d" % r["runs"] + ("+%d failed" % r["failed"] if r["failed"] else "")
        if kind == "fanin":
            label = r["label"] + (" (saturated)" if r.get("saturated") else "")
            body.append([label, runs] + fanin_cols(r) + [xfmt(r)])
        elif kind == "bulk":
            body.append([r["label"], runs, str(int(r["chunks"])), fmt(r["median"], 3),
                         rng(r, 3), fmt(r["wall_s"] * 1e3, 0),
                         "sha ok" if r.get("text_checked") else "count", xfmt(r)])
        elif kind == "ttft":
            d = r.get("ttft_delta")
            body.append([r["label"], runs, fmt(r["median"], 3), rng(r, 3),
                         fmt(r["ttft_p99_ms"], 3), fmt(r["cold_ms"], 2),
                         fmt(r["cpu_per_req_us"], 0), ("%+.3f" % d) if d is not None else "-"])
        else:
            body.append([r["label"], runs, fmt(r["median"], 2), rng(r, 2),
                         fmt(r["chunks_per_core_s"], 0),
                         "sha ok" if r.get("text_checked") else "-", xfmt(r)])
    return table(head, body, md)


def ttft_deltas(rows):
    """TTFT: each row's warm p50 minus the best pure-language peer of the same language."""
    for r in rows:
        best = best_peer(rows, lang=r["lang"])
        if best is not None and r.get("median") is not None:
            r["ttft_delta"] = r["median"] - best["median"]


# ---- the production-shaped headline ----------------------------------------------------------

HEAD_GROUPS = (("c", "C"), ("py-uvloop", "Python, uvloop"), ("py-asyncio", "Python, asyncio"),
               ("py313", "Python 3.13, uvloop"), ("node", "Node"), ("py-sync", "Python, sync"))


def headline_lines(results, md=True):
    """Per production cell: tokenwire's reference peer and the best pure-language peer of the
    same group (by CPU per delivered event, among runs that delivered everything), paired."""
    head = ["cell", "group", "peer", "runs", "CPU us/event", "range", "p50 / p99 / max ms",
            "KiB/stream", "best peer / tokenwire (paired)"]
    body = []
    for cid, c in results["cells"].items():
        if c["cell"]["kind"] != "fanin":
            continue
        rows = c["rows"]
        for grp, gl in HEAD_GROUPS:
            ref = next((r for r in rows if r["group"] == grp and r["ref"]
                        and r.get("median") is not None), None)
            best = best_peer(rows, group=grp)
            if ref is None and best is None:
                continue
            pairs = [(ref, "tokenwire")]
            if any(not r["tw"] for r in rows if r["group"] == grp):  # C has no pure peers
                pairs.append((best, "best peer"))
            for r, what in pairs:
                if r is None:
                    body.append([cid, gl, what + ": none delivered everything", "", "", "", "",
                                 "", ""])
                    continue
                cols = fanin_cols(r)
                label = r["label"] + (" (saturated: its CPU per event is not comparable)"
                                      if r.get("saturated") else "")
                body.append([cid, gl, label, str(r["runs"]), cols[0], cols[1], cols[2],
                             cols[3], xfmt(r) if r is best else ""])
    return table(head, body, md)


def best_vs_best(results):
    """Per fan-in cell and language: tokenwire's best configuration (any loop, h1 or h2) against
    the best pure-language peer's best configuration, by median CPU per delivered event."""
    out = []
    for cid, c in results["cells"].items():
        if c["cell"]["kind"] != "fanin":
            continue
        for lang in ("python", "node"):
            tws = [r for r in c["rows"] if r["tw"] and r["lang"] == lang and r.get("complete")]
            peer = best_peer(c["rows"], lang=lang)
            if tws and peer:
                tw = min(tws, key=lambda r: r["median"])
                out.append("- %s, %s: %s %.1f us/event vs %s %.1f us/event: %.2fx" % (
                    cid, LANGS[lang], tw["label"], tw["median"], peer["label"], peer["median"],
                    peer["median"] / tw["median"]))
    return out


def capacity_lines(results, md=True):
    c = results["cells"].get("capacity")
    if not c:
        return []
    head = ["peer", "capacity, events/s (p99 < 10 ms, everything delivered)", "runs: rate/s per "
            "stream -> p99 ms"]
    body = []
    for pid, v in c["capacity"].items():
        tries = ", ".join(("%g->%s%s" % (r["rate"], fmt((r.get("lat_p99_us") or 0) / 1e3, 1),
                                        "" if r["pass"] else "*")) for r in v["runs"])
        body.append([v["label"], "%.0f" % v["capacity"] if v["capacity"] else "below the floor",
                     tries])
    return table(head, body, md)


def targets(results):
    """(what, measured, target, met) for issue 13's targets measured by this run."""
    out = []
    for cid, c in results["cells"].items():
        cell = c["cell"]
        if cell["kind"] != "fanin" or cell.get("paced"):
            continue
        rows = c["rows"]
        for grp, lim, rss in (("c", 8, 20), ("py-uvloop", 15, 24), ("node", 15, 24)):
            ref = next((r for r in rows if r["group"] == grp and r["ref"]), None)
            if ref is None or ref.get("median") is None:
                if ref is not None:
                    out.append(("%s %s: tokenwire" % (cid, grp), "failed", "", False))
                continue
            out.append(("%s %s: CPU per event" % (cid, ref["label"]), "%.1f us" % ref["median"],
                        "<= %d us" % lim, ref["median"] <= lim))
            out.append(("%s %s: p99 added latency" % (cid, ref["label"]),
                        "%.2f ms" % (ref["lat_p99_us"] / 1e3), "<= 5 ms",
                        ref["lat_p99_us"] <= 5000))
            v = ref["rss_per_stream"] / 1024
            out.append(("%s %s: RSS per stream" % (cid, ref["label"]), "%.1f KiB" % v,
                        "<= %d KiB" % rss, v <= rss))
            if grp != "c":
                best = best_peer(rows, group=grp)
                if best is not None and best.get("ratio") is not None:
                    out.append(("%s: best peer (%s) / %s, paired" % (cid, best["label"],
                                ref["label"]), xfmt(best), ">= 3.5x", best["ratio"] >= 3.5))
    b = results["cells"].get("bulk-openai")
    if b:
        for grp, sdk in (("py-uvloop", "py-openai/uvloop"), ("py-asyncio", "py-openai/asyncio"),
                         ("node", "node-openai")):
            r = next((x for x in b["rows"] if x["peer"] == sdk), None)
            if r is not None and r.get("ratio") is not None:
                out.append(("bulk: %s / tokenwire" % r["label"], xfmt(r), ">= 100x",
                            r["ratio"] >= 100))
            best = best_peer(b["rows"], group=grp)
            if best is not None and best.get("ratio") is not None:
                out.append(("bulk: best pure peer (%s) / tokenwire" % best["label"], xfmt(best),
                            ">= 5x", best["ratio"] >= 5))
    for cid in ("relay", "relay-paced"):
        c = results["cells"].get(cid)
        if not c:
            continue
        for r in c["rows"]:
            if not r["tw"] and r.get("ratio") is not None:
                out.append(("%s: %s / tokenwire" % (cid, r["label"]), xfmt(r), ">= 5x",
                            r["ratio"] >= 5))
    return out


def results_md(results, raw_rel, old_text=""):
    m = results["meta"]
    L = ["# tokenwire benchmark results", "",
         "Written by `make bench` (benchmarks/bench.py) from `%s`, measured at commit `%s`%s."
         % (raw_rel, m.get("commit", "?"), " (**with uncommitted changes**)"
            if m.get("dirty") else ""),
         "How each peer is set up and how to re-run one cell: [README.md](README.md).", "",
         "| | |", "|---|---|",
         "| date | %s |" % m["date"], "| CPU | %s |" % m["cpu"], "| cores | %d |" % m["cores"],
         "| kernel | %s |" % m.get("kernel", "?"), "| pinning | %s |" % m["pinning"],
         "| TLS terminator | %s |" % m.get("tls", "-"),
         "| run time | %.0f s |" % m.get("elapsed_s", 0), ""]
    L += ["CPU is the client process's own (getrusage / process.cpuUsage, every thread), per "
          "text delta delivered to user code. Every figure is the median over repetitions with "
          "its min-max range; `x tokenwire` is paired: per repetition the peer's figure over "
          "the tokenwire reference of its group in the same repetition (Python: `async for ev`"
          " under the same loop; Node: the emitter; sync: `stream_sync`), then the median and "
          "range of those ratios. Every bulk, TTFT and relay text is checked by SHA-256 against"
          " the mock's expected text (`text`: sha ok); fan-in deltas carry timestamps, so "
          "their count is checked. A peer that delivered less, or a different text, is a "
          "failed run.", ""]
    L += ["## Production shape: tokenwire against the best pure-language peer", ""]
    L += ["Best peer: the lowest median CPU per delivered event in the same group (language and"
          " event loop) among the peers whose every run delivered everything.", ""]
    L += headline_lines(results) + [""]
    bvb = best_vs_best(results)
    if bvb:
        L += ["Best configuration against best configuration (any loop, h1 or h2):", ""] + bvb
        L += [""]
    cap = capacity_lines(results)
    if cap:
        L += ["## Capacity", "", "Method: 1,000 streams on one client core; the per-stream rate "
              "starts at 10/s and doubles while the run passes (everything delivered, not "
              "saturated, p99 < 10 ms), or halves while it fails (floor 2.5/s); then one "
              "geometric bisection step between the last pass and the first failure. One run "
              "per rate. `*` marks a failed rate.", ""] + cap + [""]
    tg = targets(results)
    if tg:
        L += ["## Targets (issue 13)", "", "| what | measured | target | |", "|---|---|---|---|"]
        L += ["| %s | %s | %s | %s |" % (w, v, t, "met" if ok else "**missed**")
              for w, v, t, ok in tg]
        L += [""]
    L += ["## Versions", "", "| component | version |", "|---|---|"]
    L += ["| %s | %s |" % kv for kv in sorted(m.get("versions", {}).items())]
    L += [""]
    for cid, c in results["cells"].items():
        if c["cell"]["kind"] == "capacity":
            continue
        L += ["## " + c["cell"]["title"], ""]
        L += table_lines(c["cell"], c["rows"], md=True)
        L += [""]
    if m.get("failed"):
        L += ["## Failed runs", ""] + ["- " + f for f in m["failed"]] + [""]
    notes = ""
    if NOTES_BEGIN in old_text and NOTES_END in old_text:
        notes = old_text[old_text.index(NOTES_BEGIN):old_text.index(NOTES_END) +
                         len(NOTES_END)]
    else:
        notes = NOTES_BEGIN + "\n## Notes\n\n" + NOTES_END
    L += [notes, ""]
    return "\n".join(L)
