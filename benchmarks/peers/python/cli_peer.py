"""The command-line floor: `tokenwire stream URL --dialect D --json BODY --format text`, timed
with the child's own rusage (os.wait4, i.e. RUSAGE_CHILDREN of this wrapper for that one child:
the whole CLI process, start-up included). Its text goes to a pipe that this wrapper drains
(the wrapper's CPU is not counted); the count of text deltas comes from the metrics the CLI
prints on stderr. Usage: cli_peer.py CLI --workload bulk --base URL --dialect D [--query Q]
[--chunks N]. Prints one JSON line like peer.py."""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

from common import BODIES, PATHS


def text_events(stderr):
    """The CLI's count of text events, from its metrics on stderr."""
    for pat in (r'"text_events"\s*:\s*(\d+)', r"text_events[=:\s]+(\d+)",
                r"(\d+)\s+text events", r"text[ _]events?\D{0,3}(\d+)"):
        m = re.search(pat, stderr)
        if m:
            return int(m.group(1))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--dialect", default="openai")
    ap.add_argument("--query", default="")
    ap.add_argument("--chunks", type=int, default=200000)
    a = ap.parse_args()
    out = {"impl": "c-cli", "loop": "-", "workload": a.workload}
    if a.workload == "versions":
        v = subprocess.run([a.cli, "version"], capture_output=True, text=True).stdout.strip()
        out.update(versions={"tokenwire-cli": v}, ok=True)
        print(json.dumps(out))
        return 0
    if a.workload != "bulk":
        out.update(ok=False, error="the CLI floor runs the bulk workload only")
        print(json.dumps(out))
        return 1
    q = "chunks=%d" % a.chunks + ("&" + a.query if a.query else "")
    url = a.base + PATHS[a.dialect] + "?" + q
    argv = [a.cli, "stream", url, "--dialect", a.dialect, "--json",
            json.dumps(BODIES[a.dialect]), "--format", "text"]
    w0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Drain both pipes without threads: stderr is small, so read stdout to EOF first.
    nbytes = 0
    text = bytearray()
    while True:
        b = p.stdout.read(1 << 16)
        if not b:
            break
        nbytes += len(b)
        text += b
    err = p.stderr.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    w1 = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)
    n = text_events(err)
    version = subprocess.run([a.cli, "version"], capture_output=True, text=True).stdout.strip()
    out.update(cpu_s=ru.ru_utime + ru.ru_stime, wall_s=w1 - w0, expected=a.chunks,
               versions={"tokenwire-cli": version},
               chars=len(text.decode("utf-8", errors="replace")), bytes=nbytes,
               sha256=hashlib.sha256(bytes(text)).hexdigest(),
               chunks=n if n is not None else -1)
    if p.returncode != 0:
        out.update(ok=False, error="exit %d: %s" % (p.returncode, err.strip()[-300:]))
    elif n is None:
        out.update(ok=False, error="no text-event count in the CLI's stderr: " + err[-300:])
    else:
        out["ok"] = True
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
