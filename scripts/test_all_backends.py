"""Run the test suite once per Keras backend, each in its own process.

`KERAS_BACKEND` is read when Keras is imported, so every backend needs a fresh
interpreter. Extra arguments are passed to pytest. Exits non-zero if any run
fails. The keras_mae wheel is built once, for the three runs of
tests/presets/test_wheel.py (`KERAS_MAE_TEST_WHEEL`).

`--jobs 2` (the default) runs two backends at a time: one pytest process
keeps about one core busy (most of a small test is Python and compilation),
so on the 2-core CI machine two at a time finish the three backends in less
wall time. Each run's output is kept in a file and printed, whole, when it
ends; `--jobs 1` streams the runs one after the other.

Usage:
    python scripts/test_all_backends.py [--backends jax,torch] [--jobs 2] \
        [pytest args...]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BACKENDS = ("tensorflow", "jax", "torch")


def _start(backend, pytest_args, env, log):
    print(f"=== pytest on KERAS_BACKEND={backend}: started ===", flush=True)
    command = [sys.executable, "-m", "pytest", *pytest_args]
    if log is None:
        return subprocess.Popen(command, env=env)
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--jobs", type=int, default=2)
    args, pytest_args = parser.parse_known_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1; received {args.jobs}")
    from tests.presets.test_wheel import build_wheel

    work = Path(tempfile.mkdtemp(prefix="keras-mae-tests-"))
    wheel = build_wheel(work)
    waiting = list(args.backends.split(","))
    running, results = {}, {}
    while waiting or running:
        while waiting and len(running) < args.jobs:
            backend = waiting.pop(0)
            env = dict(
                os.environ, KERAS_BACKEND=backend, KERAS_MAE_TEST_WHEEL=str(wheel)
            )
            log = None
            if args.jobs > 1:  # closed when the run ends, below
                log = open(work / f"{backend}.log", "w+")  # noqa: SIM115
            process = _start(backend, pytest_args, env, log)
            running[backend] = (process, log, time.perf_counter())
        for backend, (process, log, start) in list(running.items()):
            if process.poll() is None:
                continue
            del running[backend]
            results[backend] = (process.returncode, time.perf_counter() - start)
            print(f"=== pytest on KERAS_BACKEND={backend} ===", flush=True)
            if log is not None:
                log.seek(0)
                sys.stdout.write(log.read())
                log.close()
            sys.stdout.flush()
        time.sleep(0.5)
    print("=== summary ===")
    for backend in args.backends.split(","):
        code, seconds = results[backend]
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{backend:>10}: {status} in {seconds:.0f} s")
    return 0 if all(code == 0 for code, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
