"""Where the C floor's CPU goes per delivered event, at production-shaped fan-in.

    python3 benchmarks/profile_fanin.py [--streams 1000] [--rate 10] [--duration 10]

Starts `out/release/tokenwire mock` pinned to core 0, runs the C floor (`out/bench/tw_peer
--workload fanin`, `make bench` builds it) pinned to core 1 under `perf record --call-graph
dwarf`, and splits the client's samples into the parts of the per-event path: the kernel's
receive path (and inside it, sending the ACK, which on loopback also runs the server side's
ACK processing), libcurl's own code, libcurl's poll() after each read, the I/O thread's waits,
tokenwire's decoding, the consumer thread. Prints a Markdown table of CPU microseconds per
delivered event: the peer's own getrusage figure from a run without perf (perf's unwinding
inflates the profiled run's), apportioned by the profiled run's sample shares.

Needs perf (Debian: linux-perf) and root or perf_event_paranoid <= 1."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLI = os.path.join(ROOT, "out", "release", "tokenwire")
PEER = os.path.join(ROOT, "out", "bench", "tw_peer")

ACK = "ACK sent by recv() (+ its loopback delivery)"
RECV = "rest of recv() (copy, socket locking)"
POLL = "libcurl's poll() after each read"
OURS = "tokenwire: SSE framing, JSON, events, queue"
CURL = "libcurl's own code (socket action, transfer state, timers)"
WAITS = "I/O thread waits (epoll_wait, tick sleep) and wakeup writes"
CURL_SYS = "libcurl's syscalls: socket, connect, request, close (per stream)"
IO_OTHER = "I/O thread, other (loop, timers, clock reads)"
CONSUMER = "consumer thread (takes batches, touches every event)"
PARTS = (ACK, RECV, POLL, OURS, CURL, CURL_SYS, WAITS, IO_OTHER, CONSUMER)
WAIT_SYMS = {"epoll_wait", "__GI___nanosleep", "__GI___clock_nanosleep", "__nanosleep",
             "clock_nanosleep@GLIBC_2.2.5", "__GI___libc_write", "__libc_write", "write"}


def wait_http(url, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=1).read()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)  # polling a server that is starting: no signal to wait on


def samples(data):
    """Yields (comm, [(symbol, dso), ...] leaf first) from perf script output."""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,sym,dso"],
                         capture_output=True, text=True, check=True).stdout
    for block in out.split("\n\n"):
        lines = [l for l in block.splitlines() if l.strip()]
        if not lines:
            continue
        comm = lines[0].split()[0]
        chain = []
        for l in lines[1:]:
            m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", l)
            if m:
                chain.append((m.group(1), os.path.basename(m.group(2))))
        yield comm, chain


def classify(comm, chain):
    """The part of the per-event path one sample belongs to (the first rule that holds)."""
    syms = {re.sub(r"\+0x[0-9a-f]+$", "", sym) for sym, _ in chain}
    if not comm.startswith("tw-io"):
        return CONSUMER
    if syms & {"__libc_recv", "__GI___libc_recv", "recv"}:
        return ACK if "__tcp_transmit_skb" in syms else RECV
    if syms & {"__poll", "__GI___poll", "poll"}:
        return POLL
    if "on_write" in syms:
        return OURS
    if "curl_multi_socket_action" in syms or any(d.startswith("libcurl") for _, d in chain):
        return CURL_SYS if chain[0][1] == "[kernel.kallsyms]" else CURL
    if syms & WAIT_SYMS:
        return WAITS
    return IO_OTHER


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--port", type=int, default=18931)
    a = ap.parse_args()
    for p in (CLI, PEER):
        if not os.path.exists(p):
            sys.exit("profile_fanin: %s is missing: run make bench (or make, then "
                     "scripts/bench-setup.sh) first" % p)
    mock = subprocess.Popen(["taskset", "-c", "0", CLI, "mock", "--port", str(a.port),
                             "--quiet"])
    try:
        wait_http("http://127.0.0.1:%d/_mock/stats" % a.port)
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "perf.data")
            peer = [PEER, "--workload", "fanin", "--base", "http://127.0.0.1:%d" % a.port,
                    "--dialect", "openai", "--streams", str(a.streams), "--rate", "%g" % a.rate,
                    "--duration", "%g" % a.duration]
            plain = subprocess.run(["taskset", "-c", "1"] + peer, capture_output=True,
                                   text=True, check=True)
            res = json.loads(plain.stdout.strip().splitlines()[-1])
            if not res.get("ok"):
                sys.exit("profile_fanin: the C floor's run failed: %s" % plain.stdout.strip())
            subprocess.run(["taskset", "-c", "1", "perf", "record", "-q", "-F", "999",
                            "--call-graph", "dwarf,16384", "-o", data] + peer,
                           capture_output=True, text=True, check=True)
            counts, total = {}, 0
            for comm, chain in samples(data):
                lab = classify(comm, chain)
                counts[lab] = counts.get(lab, 0) + 1
                total += 1
    finally:
        mock.terminate()
        mock.wait()
    per_event = res["cpu_s"] / res["chunks"] * 1e6
    print("C floor, %d streams x %g events/s for %g s: %.1f us CPU per delivered event "
          "(%.0f %% of a core; p50 %.1f ms, p99 %.1f ms); shares from %d perf samples\n"
          % (a.streams, a.rate, a.duration, per_event, res["cpu_util"] * 100,
             res["lat_p50_us"] / 1e3, res["lat_p99_us"] / 1e3, total))
    print("| part of the per-event path | share | us per event |")
    print("| --- | ---: | ---: |")
    for label in PARTS:
        n = counts.get(label, 0)
        print("| %s | %.1f %% | %.1f |" % (label, 100.0 * n / total, per_event * n / total))


if __name__ == "__main__":
    main()
