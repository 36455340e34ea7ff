"""Run the test suite once per Keras backend, each in its own process.

`KERAS_BACKEND` is read when Keras is imported, so every backend needs a fresh
interpreter. Extra arguments are passed to pytest. Exits non-zero if any run
fails. The keras_mae wheel is built once, for the three runs of
tests/presets/test_wheel.py (`KERAS_MAE_TEST_WHEEL`).

Usage:
    python scripts/test_all_backends.py [--backends jax,torch] [pytest args...]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args, pytest_args = parser.parse_known_args()
    results = {}
    from tests.presets.test_wheel import build_wheel

    wheel_dir = tempfile.mkdtemp(prefix="keras-mae-wheel-")
    wheel = build_wheel(Path(wheel_dir))
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, KERAS_MAE_TEST_WHEEL=str(wheel))
        start = time.perf_counter()
        print(f"=== pytest on KERAS_BACKEND={backend} ===", flush=True)
        code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env)
        results[backend] = (code, time.perf_counter() - start)
    print("=== summary ===")
    for backend, (code, seconds) in results.items():
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{backend:>10}: {status} in {seconds:.0f} s")
    return 0 if all(code == 0 for code, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
