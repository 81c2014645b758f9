#!/usr/bin/env python3
"""Measures the time from starting `flowpilot serve` on a fresh SQLite data
directory to its first 200 from /healthz. Usage:
    scripts/startup-time.py [PATH_TO_FLOWPILOT] [RUNS]
"""
import os, socket, statistics, subprocess, sys, tempfile, time, urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/flowpilot"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

times = []
for _ in range(runs):
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPILOT_")}
        start = time.perf_counter()
        p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", d],
                             env=env, stderr=subprocess.DEVNULL)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.002)
        times.append(time.perf_counter() - start)
        p.terminate(); p.wait()
print(f"{runs} cold starts on a fresh SQLite data dir: "
      f"median {statistics.median(times)*1000:.0f} ms, max {max(times)*1000:.0f} ms")
