"""Processes of a bench run: the mock, the TLS terminator in front of it, peer runs (pinned),
repetitions with a rotating order, the capacity search and the relays.

Every peer prints one JSON line (benchmarks/peers/*/peer.*); `check` turns a run that did not
deliver what the mock sent (count, or the SHA-256 of the assembled text) into a failed run."""
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

from bench_defs import BUILD, CLI, PY_DIR, TLS_DIR, VENV_PY

MOCK_CORE, CLIENT_CORE = "0", "1"
P99_LIMIT_US = 10000  # the capacity criterion: p99 added latency under 10 ms


def pinned(argv, core, ncores):
    if ncores >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", core] + argv
    return argv


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(port, path, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path)
                  .encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return head, body


def wait_port(port, deadline_s, proc=None):
    """Waits for a listener (a connect that succeeds is the readiness signal)."""
    t_end = time.time() + deadline_s
    while time.time() < t_end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_cpu(pid):
    """utime + stime of a process (all its threads) from /proc, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def stop_proc(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Mock:
    def __init__(self, ncores):
        self.port = free_port()
        argv = pinned([CLI, "mock", "--port", str(self.port), "--quiet"], MOCK_CORE, ncores)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_port(self.port, 15, self.proc):
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() else ""
            self.stop()
            raise RuntimeError("the mock did not start: " + err.strip())
        self.base = "http://127.0.0.1:%d" % self.port

    def stats(self):
        try:
            return json.loads(http_get(self.port, "/_mock/stats")[1])
        except (OSError, ValueError):
            return None

    def wait_idle(self, timeout=10.0):
        """Waits until no stream is active on the mock (the previous peer is fully gone)."""
        t_end = time.time() + timeout
        while time.time() < t_end:
            st = self.stats()
            if st is None or st.get("active", 0) == 0:
                return
            time.sleep(0.1)

    def server_pids(self):
        return [self.proc.pid] if self.proc else []

    def stop(self):
        stop_proc(self.proc)


class ExternalMock(Mock):
    """A mock someone else started (--mock-url): used as is, never stopped."""

    def __init__(self, url):
        self.base = url.rstrip("/")
        self.port = int(self.base.rsplit(":", 1)[1])
        self.proc = None


HAPROXY_CFG = """global
    maxconn 9500
    nbthread 1
    tune.ssl.default-dh-param 2048
defaults
    mode http
    maxconn 9000
    option http-no-delay
    timeout connect 10s
    timeout client 10m
    timeout server 10m
    timeout http-request 60s
frontend tls
    bind 127.0.0.1:{port} ssl crt {crt} alpn h2,http/1.1
    default_backend mock
backend mock
    server mock 127.0.0.1:{mock_port}
"""


class TlsFront:
    """Debian's HAProxy terminating TLS (h2 and http/1.1 by ALPN) in front of the mock, one
    thread, pinned to the mock's core: the server side's cost stays off the client's core.
    Its own CPU is recorded per run (server_util) so that a server-bound cell shows."""

    def __init__(self, mock, ncores):
        self.mock = mock
        self.port = free_port()
        self.ca = os.path.join(TLS_DIR, "ca.pem")
        crt = os.path.join(TLS_DIR, "server.pem")
        if not (os.path.exists(self.ca) and os.path.exists(crt)):
            raise RuntimeError("no local CA in out/bench/tls: run scripts/bench-setup.sh")
        cfg = os.path.join(BUILD, "bench", "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(port=self.port, crt=crt, mock_port=mock.port))
        self.log = os.path.join(BUILD, "bench", "haproxy.log")
        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen(pinned(["haproxy", "-db", "-f", cfg], MOCK_CORE,
                                                ncores), stdout=lf, stderr=lf)
        if not wait_port(self.port, 15, self.proc):
            self.stop()
            with open(self.log, errors="replace") as f:
                raise RuntimeError("haproxy did not start: " + f.read()[-400:])
        self.base = "https://127.0.0.1:%d" % self.port

    def stop(self):
        stop_proc(self.proc)


def run_json(argv, timeout, env=None):
    """Runs a peer process, returns its JSON line (or a failure record)."""
    t0 = time.time()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        tail = (e.stderr or b"").decode(errors="replace")[-400:]
        return {"ok": False, "error": "timed out after %ds %s" % (timeout, tail.strip())}
    except OSError as e:
        return {"ok": False, "error": "cannot run %s: %s" % (argv[0], e)}
    out = None
    for line in reversed(p.stdout.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                out = json.loads(line)
                break
            except ValueError:
                pass
    if out is None:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        return {"ok": False, "error": "exit %d, no result line: %s" %
                (p.returncode, " | ".join(err[-3:]))}
    if p.returncode != 0 and out.get("ok"):
        out["ok"] = False
        out["error"] = "exit status %d" % p.returncode
    out["proc_wall_s"] = time.time() - t0
    return out


# ---- expected texts ---------------------------------------------------------------------------

_SHA = {}


def expected_sha(chunks):
    """SHA-256 of the text a correct client assembles for `chunks` default-text deltas, from the
    mock's own tw_mock_expected_text (tokenwire._tools.expected_text in the bench venv)."""
    if chunks not in _SHA:
        code = ("import hashlib, sys\nfrom tokenwire._tools import expected_text\n"
                "print(hashlib.sha256(expected_text(int(sys.argv[1])).encode()).hexdigest())")
        out = subprocess.run([VENV_PY, "-c", code, str(chunks)], capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("expected_text failed: " + out.stderr.strip()[-300:])
        _SHA[chunks] = out.stdout.strip()
    return _SHA[chunks]


def check(cell, r, want_chunks):
    """Marks a run failed when it did not deliver what the mock sent."""
    if not r.get("ok"):
        return
    if cell["kind"] == "fanin" or cell["kind"] == "capacity":
        if r.get("chunks") != r.get("expected") and not r.get("saturated"):
            r["ok"] = False
            r["error"] = "delivered %s of %s chunks" % (r.get("chunks"), r.get("expected"))
        return
    if r.get("chunks") != r.get("expected"):
        r["ok"] = False
        r["error"] = "delivered %s text deltas, the mock sent %s" % (r.get("chunks"),
                                                                    r.get("expected"))
        return
    if "sha256" in r:
        want = expected_sha(want_chunks)
        r["sha_ok"] = r["sha256"] == want
        if not r["sha_ok"]:
            r["ok"] = False
            r["error"] = "text SHA-256 %s..., the mock's expected text %s..." % (
                r["sha256"][:12], want[:12])
    elif cell["kind"] == "bulk" and cell["dialect"] == "openai" or cell["kind"] == "ttft":
        r["ok"] = False
        r["error"] = "no text checksum in the result line"


# ---- peer runs --------------------------------------------------------------------------------

def bulk_chunks(peer, cell):
    return max(1000, int(round(cell["chunks"] * peer.scale / 1000.0)) * 1000)


def peer_args(peer, cell, base, ca, streams=None, rate=None, duration=None):
    a = ["--workload", "fanin" if cell["kind"] == "capacity" else cell["kind"], "--base", base,
         "--dialect", cell["dialect"]]
    if ca:
        a += ["--ca", ca]
    if cell["query"]:
        a += ["--query", cell["query"]]
    if cell["kind"] == "bulk":
        a += ["--chunks", str(bulk_chunks(peer, cell))]
    elif cell["kind"] in ("fanin", "capacity"):
        a += ["--streams", str(streams or cell["streams"]), "--rate", "%g" % (rate or cell["rate"]),
              "--duration", "%g" % (duration or cell["duration"])]
    elif cell["kind"] == "ttft":
        a += ["--chunks", str(cell["chunks"]), "--requests", str(cell["requests"])]
    return a


class Runner:
    """Runs peers against one upstream (the mock, or the TLS front before it)."""

    def __init__(self, mock, ncores, front=None):
        self.mock, self.ncores, self.front = mock, ncores, front
        self.base = front.base if front else mock.base
        self.ca = front.ca if front else None
        self.server = [p for p in (mock.proc, front.proc if front else None) if p is not None]

    def server_cpu(self):
        try:
            return sum(proc_cpu(p.pid) for p in self.server)
        except OSError:
            return None

    def one(self, p, cell, rep, pin=True, idle=True, barrier=None, **kw):
        if idle:
            self.mock.wait_idle()
        timeout = (cell.get("duration", 10) * 3 + 90 if cell["kind"] in ("fanin", "capacity")
                   else 300)
        env = dict(os.environ)
        if barrier:
            env["BENCH_BARRIER"] = str(barrier)
        if self.ca:  # fetch-based Node peers trust the CA this way (Node's docs)
            env["NODE_EXTRA_CA_CERTS"] = self.ca
        argv = p.argv + peer_args(p, cell, self.base, self.ca, **kw)
        s0, w0 = self.server_cpu(), time.time()
        r = run_json(pinned(argv, CLIENT_CORE, self.ncores) if pin else argv, timeout, env)
        s1, w1 = self.server_cpu(), time.time()
        if s0 is not None and s1 is not None:
            r["server_util"] = (s1 - s0) / max(w1 - w0, 1e-9)
        r["rep"] = rep
        want = bulk_chunks(p, cell) if cell["kind"] == "bulk" else cell.get("chunks")
        check(cell, r, want)
        if r.get("ok") and r.get("chunks"):
            r["cpu_us_per_event"] = r["cpu_s"] / r["chunks"] * 1e6
        return r


class Barrier:
    """Peers run side by side start their measured sections together: each connects after its
    warm-up and says ready; once all have (or the ones left have failed to within a timeout),
    every one of them gets the go."""

    def __init__(self, n, timeout=180.0):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(max(n, 16))
        self.port = self.sock.getsockname()[1]
        self.n, self.timeout = n, timeout
        self.thread = threading.Thread(target=self._gate, daemon=True)
        self.thread.start()

    def _gate(self):
        conns = []
        self.sock.settimeout(self.timeout)
        try:
            while len(conns) < self.n:
                c, _ = self.sock.accept()
                c.settimeout(self.timeout)
                c.recv(16)
                conns.append(c)
        except OSError:
            pass  # a peer that never got ready failed on its own; release the others
        for c in conns:
            try:
                c.sendall(b"go\n")
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


def run_cell(cell, peers, runner, log, jobs=1, prune=None):
    """Every peer `cell["reps"]` times, the order rotating (and reversed on odd repetitions)
    so that drift of the machine hits every peer alike. jobs > 1 runs that many peers at once
    (QUICK, unpinned; or the paced cell, pinned, whose peers use ~1 % of a core each).
    prune(runs) -> peer ids not to repeat after the first repetition (see bench.py)."""
    runs = {p.id: [] for p in peers}
    active = list(peers)
    for rep in range(cell["reps"]):
        if rep == 1 and prune is not None:
            drop = prune(runs)
            active = [p for p in active if p.id not in drop]
        if not active:
            break
        k = rep % len(active)
        order = active[k:] + active[:k]
        if rep % 2 == 1:
            order = order[::-1]
        if jobs == 1:
            results = ((p, runner.one(p, cell, rep)) for p in order)
        else:
            pin = bool(cell.get("concurrent"))  # the paced cell: side by side on the client core
            runner.mock.wait_idle()
            gate = Barrier(len(order)) if pin else None
            with concurrent.futures.ThreadPoolExecutor(min(jobs, len(order))) as ex:
                futs = [(p, ex.submit(runner.one, p, cell, rep, pin, False,
                                      gate.port if gate else None)) for p in order]
                results = [(p, f.result()) for p, f in futs]
            if gate:
                gate.close()
        for p, r in results:
            runs[p.id].append(r)
            log("  %-52s %s" % (p.label, brief(cell, r)))
    return runs


def capacity_search(peer, cell, runner, log, pin=True):
    """The highest aggregate rate (streams x per-stream rate) at which the peer delivers every
    event, is not saturated and keeps p99 under 10 ms, on one core. Per-stream rates double
    from the first of cell["rates"] while they pass (up to the last), or halve while they fail
    (down to cell["floor"]); then one geometric bisection step between the last pass and the
    first failure. Returns (best passing aggregate rate or None, the runs)."""
    def ok(r):
        return (r.get("ok") and not r.get("saturated") and r.get("chunks") == r.get("expected")
                and r.get("lat_p99_us") is not None and r["lat_p99_us"] < P99_LIMIT_US)

    tried = []

    def attempt(rate):
        r = runner.one(peer, cell, 0, pin=pin, idle=pin, streams=cell["streams"], rate=rate,
                       duration=cell["duration"])
        r["rate"] = rate
        r["pass"] = bool(ok(r))
        tried.append(r)
        log("  %-52s %6g/s x %d: %s" % (peer.label, rate, cell["streams"],
                                        "pass" if r["pass"] else "fail (%s)" % brief(cell, r)))
        return r["pass"]

    rates = list(cell["rates"])
    lo = hi = None
    if attempt(rates[0]):
        lo = rates[0]
        for rate in rates[1:]:
            if attempt(rate):
                lo = rate
            else:
                hi = rate
                break
    else:
        hi = rates[0]
        rate = rates[0] / 2.0
        while rate >= cell["floor"]:
            if attempt(rate):
                lo = rate
                break
            hi = rate
            rate /= 2.0
    if lo is not None and hi is not None:
        mid = round((lo * hi) ** 0.5, 1)
        if lo < mid < hi and attempt(mid):
            lo = mid
    return (lo * cell["streams"] if lo is not None else None), tried


# ---- relays -----------------------------------------------------------------------------------

def run_relay(rd, cell, mock, ncores):
    port = free_port()

    def sub(x):
        return x.replace("{port}", str(port)).replace("{mock}", mock.base)

    env = dict(os.environ)
    env.update({k: sub(v) for k, v in rd["env"].items()})
    argv = pinned([sub(x) for x in rd["argv"]], CLIENT_CORE, ncores)
    log_path = os.path.join(BUILD, "bench", rd["id"] + ".log")
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(argv, env=env, cwd=rd["cwd"], stdout=logf, stderr=logf)
    try:
        if not wait_port(port, 30, proc):
            with open(log_path, errors="replace") as f:
                err = f.read()
            return {"ok": False, "error": "relay did not start: " + err.strip()[-300:]}
        paced = cell["delay_ms"] > 0
        chunks = cell["chunks"] if paced else max(200, int(cell["chunks"] * rd["scale"]))
        lg = [VENV_PY, os.path.join(PY_DIR, "loadgen.py"), "--port", str(port), "--path",
              rd["path"]]
        warm = run_json(pinned(lg + ["--readers", "2", "--chunks", "50",
                                     "--expect-sha", expected_sha(50)], MOCK_CORE, ncores), 120)
        if not warm.get("ok"):
            return {"ok": False, "error": "warm-up: " + str(warm.get("error"))}
        c0 = proc_cpu(proc.pid)
        r = run_json(pinned(lg + ["--readers", str(cell["readers"]), "--chunks", str(chunks),
                                  "--delay-ms", "%g" % cell["delay_ms"],
                                  "--expect-sha", expected_sha(chunks),
                                  "--timeout", str(cell["timeout"])], MOCK_CORE, ncores),
                     cell["timeout"] + 30)
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                err = f.read()
            return {"ok": False, "error": "the relay exited (%s): %s" % (proc.returncode,
                                                                        one_line(err[-400:]))}
        c1 = proc_cpu(proc.pid)
        if not r.get("ok"):
            return r
        r["expected"] = chunks * cell["readers"]
        r["relay_cpu_s"] = c1 - c0
        if r["chunks"] != r["expected"]:
            return {"ok": False, "error": "readers got %s chunks of %s" % (r["chunks"],
                                                                           r["expected"])}
        r["cpu_us_per_chunk"] = (c1 - c0) / r["chunks"] * 1e6
        r["chunks_per_core_s"] = r["chunks"] / max(c1 - c0, 1e-9)
        return r
    finally:
        stop_proc(proc)


# ---- one-line summaries ----------------------------------------------------------------------

def one_line(text, limit=300):
    return " | ".join(x.strip() for x in str(text).splitlines() if x.strip())[:limit]


def brief(cell, r):
    if not r.get("ok"):
        return "FAILED: " + one_line(r.get("error", "?"))
    kind = cell["kind"]
    if kind == "bulk":
        return "%.3f us/chunk cpu, %.0f ms wall, %d chunks, text ok" % (
            r["cpu_s"] / r["chunks"] * 1e6, r["wall_s"] * 1e3, r["chunks"])
    if kind in ("fanin", "capacity"):
        return ("%.1f us/event, cpu %.1f%%, lat p50 %.2f p99 %.2f max %.1f ms, %.1f KiB/stream"
                "%s%s" % (r["cpu_s"] / max(r["chunks"], 1) * 1e6, r["cpu_util"] * 100,
                          (r["lat_p50_us"] or 0) / 1e3, (r["lat_p99_us"] or 0) / 1e3,
                          (r["lat_max_us"] or 0) / 1e3, r["rss_per_stream"] / 1024,
                          ", server %.0f%%" % (r["server_util"] * 100)
                          if r.get("server_util") is not None else "",
                          " SATURATED" if r.get("saturated") else ""))
    if kind == "ttft":
        return "warm p50 %.3f ms p99 %.3f ms, cold %.2f ms, %.0f us cpu/request" % (
            r["ttft_p50_ms"], r["ttft_p99_ms"], r["cold_ms"], r["cpu_per_req_us"])
    if kind == "relay":
        return "%.2f us/chunk relay cpu, %.0f chunks/s per core, text ok" % (
            r["cpu_us_per_chunk"], r["chunks_per_core_s"])
    return json.dumps(r)[:200]

