"""The benchmark harness: what bench/run, ab, profile, clients and swarm share.

The scripts in bench/ are the commands; this package holds their parts, one module a
concern, so that a free port, a wrk run or a venv is written once:

    targets     the servers measured (the TARGETS table) and their request formats
    bodies      the request bodies, read from locustfile.py
    settings    the run's configuration (full, quick) and context, as dataclasses
    processes   child processes: free ports, CPU pinning, servers started and stopped
    wrk         wrk runs: the Lua script, the run itself, its output parsed
    measure     /proc readers, one measured cell (repetitions of wrk), one target
    checks      the answers checked before a server is measured
    builds      the Rust side's preparation: cargo builds, the model wine-train writes
    venvs       the pinned Python venvs, and the scikit-learn model trained in them
    machine     the record of the machine, the tools and the commit
    figures     figures derived from the measurements: ratios and the issue's goals
    stacks      bench/swarm's Docker stacks (Compose, Swarm), removed again, and the
                CPU and memory of their processes
    rendering   the markdown reports, from the result JSON alone

bench/tests holds their unit tests (python3 -m unittest discover -s bench/tests -t bench).

Python 3.11 standard library only. The scripts put bench/ first on sys.path.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"


class BenchError(RuntimeError):
    """A failure the scripts report in one line (and exit 2) rather than as a traceback."""


_log_tag = {"tag": "bench", "clock": True}


def log_as(tag: str, clock: bool = True) -> None:
    """Name the script in its progress lines: `[ab] ...`, `[clients] ...`."""
    _log_tag.update(tag=tag, clock=clock)


def log(msg: str) -> None:
    """One progress line on stderr: `[bench 12:00:00] msg` (stdout is for results)."""
    stamp = f" {time.strftime('%H:%M:%S')}" if _log_tag["clock"] else ""
    print(f"[{_log_tag['tag']}{stamp}] {msg}", file=sys.stderr, flush=True)


def run_main(main: Callable[[], int | None]) -> None:
    """Exit with main's status; a BenchError or a failed command is one line and status 2."""
    try:
        sys.exit(main())
    except (BenchError, subprocess.CalledProcessError) as e:
        log(f"error: {e}")
        sys.exit(2)
