"""The Rust side's preparation: cargo builds and the model wine-train writes.

bench/run builds every binary and example, bench/clients only wine-lab; bench/run,
bench/ab and bench/profile all serve a model trained by the wine-train beside the
server they start.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from . import ROOT, log
from .processes import run


def cargo_build(*what: str) -> tuple[bool, str]:
    """`cargo build --release WHAT...`: (True, "") or (False, why, with cargo's last lines)."""
    argv = ["cargo", "build", "--release", *what]
    log(" ".join(argv))
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        return False, (f"cargo build failed after {took:.0f} s:\n"
                       + "\n".join(proc.stdout.splitlines()[-30:]))
    log(f"cargo build done in {took:.0f} s")
    return True, ""


def train_model(bin_dir: Path, out: Path) -> Path:
    """Our model, written by bin_dir/wine-train (deterministic: same data, same model)."""
    log(f"training our model: {bin_dir}/wine-train --out {out}")
    run([str(bin_dir / "wine-train"), "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL)
    return out
