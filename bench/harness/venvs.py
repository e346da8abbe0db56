"""The pinned Python venvs of the FastAPI baseline and MLServer, and the model trained in them.

A venv is made once per set of pins and Python version, under the user's cache
(never in the work tree), and the scikit-learn model is trained in it on every run
and checked against data/reference-predictions.json: a baseline that is not the
lab's model is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import BENCH, ROOT, BenchError, log
from .processes import output, run

FASTAPI_DIR = BENCH / "fastapi"
MLSERVER_DIR = BENCH / "mlserver"


def cache_dir() -> Path:
    """${XDG_CACHE_HOME:-~/.cache}/wine-lab."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wine-lab"


def find_python(explicit: str | None) -> str:
    """A CPython 3.11: `explicit`, else python3.11, else this interpreter."""
    candidates = [explicit] if explicit else ["python3.11", sys.executable]
    for c in candidates:
        exe = shutil.which(c) or c
        ver = output([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        if ver == "3.11":
            return exe
    raise BenchError(f"the Python targets need CPython 3.11 (tried {candidates}); pass --python")


def ensure_venv(python: str, pinned: Path = FASTAPI_DIR, prefix: str = "bench-venv") -> Path:
    """The venv of pinned/requirements.txt, created once under the cache dir.

    Keyed by the pins (not the comments) and the Python version; superseded ones go.
    """
    req = pinned / "requirements.txt"
    ident = output([python, "-c", "import sys; print(sys.version)"])
    pins = "\n".join(line.strip() for line in req.read_text().splitlines()
                     if line.strip() and not line.startswith("#"))
    key = hashlib.sha256((pins + "\n" + ident).encode()).hexdigest()[:16]
    venv = cache_dir() / f"{prefix}-{key}"
    if (venv / ".complete").exists():
        return venv
    log(f"creating the venv {venv} from {req.relative_to(ROOT)} (pinned, binary wheels only)")
    shutil.rmtree(venv, ignore_errors=True)  # a half-made one from an interrupted run
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([python, "-m", "venv", str(venv)])
    run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--no-input", "--only-binary=:all:", "-r", str(req)])
    (venv / ".complete").write_text(ident + "\n")
    for old in venv.parent.glob(f"{prefix}-*"):  # superseded pins
        if old != venv and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return venv


def packages(venv: Path) -> dict[str, str]:
    """{package: version} installed in the venv (pip freeze)."""
    frozen = output([str(venv / "bin/python"), "-m", "pip", "freeze",
                     "--disable-pip-version-check"])
    return dict(line.split("==", 1) for line in frozen.splitlines() if "==" in line)


def train_sklearn(venv: Path, work: Path, name: str = "wine") -> tuple[Path, dict]:
    """The lab's scikit-learn model trained by venv's python, checked against the reference."""
    model, report = work / f"{name}.pkl", work / f"{name}-sklearn-verify.json"
    proc = subprocess.run(
        [str(venv / "bin/python"), str(FASTAPI_DIR / "train.py"), "--data", str(ROOT / "data"),
         "--out", str(model), "--report", str(report)],
        capture_output=True, text=True,
    )
    sys.stderr.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise BenchError("the scikit-learn baseline does NOT reproduce "
                         "data/reference-predictions.json: "
                         "refusing to benchmark a baseline that is not the lab's model")
    return model, json.loads(report.read_text())
