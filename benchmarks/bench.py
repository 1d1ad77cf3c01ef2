#!/usr/bin/env python3
"""tokenwire cross-peer benchmark: `make bench` (full, ~1 h) or `make bench QUICK=1` (smoke).

Starts the built-in mock (`tokenwire mock`) pinned to core 0 (and, for the TLS cells, HAProxy
terminating TLS before it on the same core), runs every peer of every cell as its own process
pinned to core 1, rotating the peers' order across repetitions, and prints one table per cell.
Production-shaped cells (paced fan-in, one paced stream, plain and TLS, and the capacity
search) come first; bulk cells are throughput tests. Raw figures go to
benchmarks/results/full-<commit>-<stamp>.json, the tables to benchmarks/RESULTS.md.

Exit status: non-zero when any peer failed (the smoke check CI runs).
Definitions: bench_defs.py; processes: bench_run.py; tables: bench_report.py.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_report as rep  # noqa: E402
from bench_defs import (BUILD, CLI, ROOT, VENV_PY, all_peers, make_cells, relay_cells,  # noqa
                        relay_defs)
from bench_run import (CLIENT_CORE, MOCK_CORE, ExternalMock, Mock, Runner, TlsFront,  # noqa
                       brief, capacity_search, run_cell, run_relay)

RESULTS_DIR = os.path.join(HERE, "results")
PRUNE_FACTOR = 1.5  # after the first repetition, see prune_losers


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except OSError:
        return ""


def collect_versions(results):
    """Versions reported by the peers themselves in their result lines, plus the CLI's and the
    relay stack's."""
    v = {}
    try:
        v["tokenwire CLI"] = subprocess.run([CLI, "version"], capture_output=True,
                                            text=True).stdout.strip()
    except OSError as e:
        v["tokenwire CLI"] = "missing (%s)" % e
    code = ("import json, importlib.metadata as m\n"
            "print(json.dumps({d: m.version(d) for d in ('fastapi', 'uvicorn', 'uvloop', "
            "'httptools', 'starlette', 'httpx', 'orjson')}))")
    try:
        extra = json.loads(subprocess.run([VENV_PY, "-c", code], capture_output=True,
                                          text=True, timeout=60).stdout)
        v.update({"PyPI " + k: val for k, val in extra.items()})
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        v["PyPI relay stack"] = "unknown (%s)" % e
    try:
        v["haproxy"] = subprocess.run(["haproxy", "-v"], capture_output=True,
                                      text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    for c in results["cells"].values():
        for runs in c["runs"].values():
            for r in runs:
                impl = str(r.get("impl", ""))
                vs = r.get("versions") or {}
                prefix = ("C" if impl.startswith("c-") else
                          "PyPI" if impl.startswith("py_") else "npm")
                if prefix == "PyPI" and vs.get("python", "").startswith("3.13"):
                    prefix = "PyPI (3.13)"
                for k, val in vs.items():
                    v.setdefault("%s %s" % (prefix, k), val)
    return v


def prune_losers(cell, peers):
    """After the first repetition, peers that cannot be a cell's best peer are not repeated:
    pure-language peers that failed, saturated, or whose figure (CPU per event; TTFT: warm
    p50) was more than PRUNE_FACTOR x the best peer's of their group. tokenwire's peers always
    repeat. The dropped peers' single run is still shown (runs = 1)."""
    by_id = {p.id: p for p in peers}

    def prune(runs):
        rows = rep.summarize(cell, peers, runs)
        drop = set()
        for r in rows:
            p = by_id[r["peer"]]
            if p.tw:
                continue
            best = rep.best_peer(rows, group=r["group"])
            if (r.get("median") is None or not r.get("complete") or best is None or
                    r["median"] > PRUNE_FACTOR * best["median"]):
                drop.add(p.id)
        return drop
    return prune


def cell_peers(cell, peers):
    out = []
    for p in peers:
        if cell["dialect"] not in p.dialects:
            continue
        if p.h2 and not cell["tls"]:
            continue
        if cell["work"] in p.workloads or (cell.get("paced") and "paced" in p.workloads):
            out.append(p)
    return out


def run_cells(cells, peers, mock, front, ncores, quick, log, results, failed):
    for cell in cells:
        if cell["tls"] and front is None:
            continue
        runner = Runner(mock, ncores, front if cell["tls"] else None)
        cp = cell_peers(cell, peers)
        if not cp:
            continue
        if cell["kind"] == "capacity":
            log("\n== %s  [%d peers]" % (cell["title"], len(cp)))
            capres, runs = {}, {}
            # QUICK: four peers at once, unpinned (the search runs, its figures mean nothing).
            with concurrent.futures.ThreadPoolExecutor(4 if quick else 1) as ex:
                found = list(ex.map(lambda p: capacity_search(p, cell, runner, log,
                                                              pin=not quick), cp))
            for p, (cap, tried) in zip(cp, found):
                capres[p.id] = {"label": p.label, "capacity": cap, "runs": tried}
                runs[p.id] = tried
                if not any(r.get("ok") for r in tried):  # no number at all: a failed peer
                    failed.append("%s/%s: %s" % (cell["id"], p.id, tried[-1].get("error")))
            results["cells"][cell["id"]] = {"cell": cell, "runs": runs, "rows": [],
                                            "capacity": capres}
            log("")
            for line in rep.capacity_lines(results, md=False):
                log(line)
            continue
        log("\n== %s  [%d peers x %d reps]" % (cell["title"], len(cp), cell["reps"]))
        if cell.get("concurrent"):
            jobs = len(cp)
        else:  # QUICK: four peers at once, unpinned (a smoke run; its figures mean nothing)
            jobs = 4 if quick else 1
        prune = prune_losers(cell, cp) if cell["kind"] in ("fanin", "bulk", "ttft") else None
        runs = run_cell(cell, cp, runner, log, jobs=jobs, prune=prune)
        rows = rep.summarize(cell, cp, runs)
        if cell["kind"] == "ttft":
            rep.ttft_deltas(rows)
        results["cells"][cell["id"]] = {"cell": cell, "runs": runs, "rows": rows}
        log("")
        for line in rep.table_lines(cell, rows, md=False):
            log(line)
        failed += ["%s/%s: %s" % (cell["id"], r["peer"], r["error"]) for r in rows
                   if r["failed"]]


class RelayPeer:
    def __init__(self, d):
        self.id, self.label, self.tw = d["id"], d["label"], d.get("tw", False)
        self.ref, self.group, self.lang = d.get("ref", False), d["group"], d["group"]


def run_relays(rcells, rds, mock, ncores, log, results, failed):
    for cell in rcells:
        log("\n== %s  [%d relays x %d reps]" % (cell["title"], len(rds), cell["reps"]))
        runs = {d["id"]: [] for d in rds}
        for k in range(cell["reps"]):
            order = rds[k % len(rds):] + rds[:k % len(rds)]
            if k % 2:
                order = order[::-1]
            for d in order:
                mock.wait_idle()
                r = run_relay(d, cell, mock, ncores)
                r["rep"] = k
                runs[d["id"]].append(r)
                log("  %-60s %s" % (d["label"], brief(cell, r)))
        rows = rep.summarize(cell, [RelayPeer(d) for d in rds], runs)
        results["cells"][cell["id"]] = {"cell": cell, "runs": runs, "rows": rows}
        log("")
        for line in rep.table_lines(cell, rows, md=False):
            log(line)
        failed += ["%s/%s: %s" % (cell["id"], r["peer"], r["error"]) for r in rows
                   if r["failed"]]


def render(json_path, md_path):
    """RESULTS.md from an archived run's JSON: every published number comes from that file."""
    with open(json_path) as f:
        results = json.load(f)
    old = open(md_path).read() if os.path.exists(md_path) else ""
    rel = os.path.relpath(os.path.abspath(json_path), os.path.dirname(os.path.abspath(md_path)))
    with open(md_path, "w") as f:
        f.write(rep.results_md(results, rel, old))
    print("summary: %s (from %s)" % (md_path, json_path))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): small sizes, 1 rep")
    ap.add_argument("--only", default="", help="comma-separated cell ids to run")
    ap.add_argument("--peers", default="", help="comma-separated substrings of peer ids")
    ap.add_argument("--reps", type=int, default=0, help="override every cell's repetitions")
    ap.add_argument("--scale-duration", type=float, default=1.0,
                    help="multiply the paced cells' durations (a reduced-size run)")
    ap.add_argument("--mock-url", default="",
                    help="use this already running mock (http://127.0.0.1:PORT) instead of "
                         "starting out/release/tokenwire mock (no TLS cells then)")
    ap.add_argument("--no-results-md", action="store_true",
                    help="do not rewrite benchmarks/RESULTS.md")
    ap.add_argument("--results-md", default="",
                    help="write the RESULTS.md of this run to this path (any run)")
    ap.add_argument("--render", default="", metavar="JSON",
                    help="run nothing: write RESULTS.md (or --results-md) from an archived run")
    a = ap.parse_args()
    if a.render:
        return render(a.render, a.results_md or os.path.join(HERE, "RESULTS.md"))
    quick = a.quick or os.environ.get("QUICK") not in (None, "", "0")

    t_start = time.time()
    ncores = os.cpu_count() or 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def log(msg):
        print(msg, flush=True)

    peers = all_peers()
    if a.peers:
        pats = a.peers.split(",")
        peers = [p for p in peers if any(s in p.id for s in pats)]
    cells = make_cells(quick)
    rcells = relay_cells(quick)
    if a.only:
        only = a.only.split(",")
        cells = [c for c in cells if c["id"] in only]
        rcells = [c for c in rcells if c["id"] in only]
    for c in cells + rcells:
        if a.reps:
            c["reps"] = a.reps
        if a.scale_duration != 1.0 and "duration" in c:
            c["duration"] = max(1.0, c["duration"] * a.scale_duration)
    rds = relay_defs()
    if a.peers:
        rds = [d for d in rds if any(s in d["id"] for s in a.peers.split(","))]

    for path in ((VENV_PY,) if a.mock_url else (CLI, VENV_PY)):
        if not os.path.exists(path):
            log("bench: %s is missing: run `make bench` (it builds and sets up first)" % path)
            return 2
    log("tokenwire benchmark (%s): %d cores, %s" % ("QUICK" if quick else "full", ncores,
                                                    cpu_model()))
    mock = ExternalMock(a.mock_url) if a.mock_url else Mock(ncores)
    front = None
    results = {"meta": {}, "cells": {}}
    failed = []
    try:
        meta = results["meta"]
        meta["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta["commit"] = git("rev-parse", "--short=12", "HEAD") or "unknown"
        meta["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
        meta["cpu"] = cpu_model()
        meta["cores"] = ncores
        meta["kernel"] = platform.release()
        meta["quick"] = quick
        meta["argv"] = sys.argv[1:]
        meta["pinning"] = ("mock (and haproxy) on core %s, client on core %s" % (
            MOCK_CORE, CLIENT_CORE) if ncores >= 2 else "none (one core)")
        if any(c["tls"] for c in cells) and not a.mock_url:
            front = TlsFront(mock, ncores)
            meta["tls"] = ("HAProxy (Debian), one thread on the mock's core, TLS 1.3, ECDSA P-256, "
                           "local CA, ALPN h2 + http/1.1, HTTP/1.1 to the mock")
        run_cells(cells, peers, mock, front, ncores, quick, log, results, failed)
        if rds and rcells:
            run_relays(rcells, rds, mock, ncores, log, results, failed)
    finally:
        if front is not None:
            front.stop()
        mock.stop()

    results["meta"]["versions"] = collect_versions(results)
    results["meta"]["elapsed_s"] = time.time() - t_start
    results["meta"]["failed"] = failed
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    partial = bool(a.only or a.peers or a.mock_url or a.reps or a.scale_duration != 1.0)
    kind = "quick" if quick else "partial" if partial else "full"
    name = "%s-%s-%s.json" % (kind, results["meta"]["commit"], stamp)
    # Quick (smoke) and partial runs are scratch: they go to out/; only complete full runs
    # are archived in the repository, named with the commit they measured.
    out_dir = os.path.join(BUILD, "bench", "results") if quick or partial else RESULTS_DIR
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, name)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    log("\nraw results: %s" % os.path.relpath(out_path, ROOT))
    md_paths = []
    if not quick and not partial and not a.no_results_md:
        md_paths.append(os.path.join(HERE, "RESULTS.md"))
    if a.results_md:
        md_paths.append(a.results_md)
    for md_path in md_paths:
        old = open(md_path).read() if os.path.exists(md_path) else ""
        with open(md_path, "w") as f:
            f.write(rep.results_md(results, os.path.relpath(out_path, os.path.dirname(
                os.path.abspath(md_path))), old))
        log("summary: %s" % os.path.relpath(md_path, ROOT))
    log("")
    for line in rep.headline_lines(results, md=False):
        log(line)
    log("elapsed: %.0f s" % (time.time() - t_start))
    cells_run = sum(len(c["rows"]) + len(c.get("capacity", {}))
                    for c in results["cells"].values())
    # One line a CI log reader understands: peer cells that produced numbers / that failed.
    log("bench: %d passed, %d failed" % (cells_run - len(failed), len(failed)))
    if failed:
        log("\nFAILED (%d):" % len(failed))
        for f_ in failed:
            log("  " + f_)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
