"""The record of where a result was measured: machine, CPU pinning, tools and commit.

A figure without its machine, its tools' versions and its commit cannot be compared
with the next one; every result file carries them.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

from . import ROOT
from .processes import output
from .venvs import packages


def _os_name() -> str:
    release = Path("/etc/os-release")
    fields = {}
    if release.exists():
        for line in release.read_text().splitlines():
            key, _, value = line.partition("=")
            fields[key] = value.strip('"')
    return fields.get("PRETTY_NAME", platform.system())


def machine_info(usable: list[int], server_cpus: set[int], loadgen_cpus: set[int]) -> dict:
    """The machine's CPU, cores, memory, kernel and OS, and this run's CPU pinning."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                  if line.startswith("model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(usable),
        "kernel": platform.release(),
        "os": _os_name(),
        "memory_mib": int(mem) // 1024,
        "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:8],
        "server_cpus": sorted(server_cpus),
        "loadgen_cpus": sorted(loadgen_cpus),
        "cpus_shared": bool(set(server_cpus) & set(loadgen_cpus)),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def tool_versions(venv: Path | None, mlserver_venv: Path | None = None) -> dict:
    """wrk, Python, rustc and cargo versions, and the venvs' packages."""
    tools: dict = {
        "wrk": (output(["dpkg-query", "-W", "-f=${Version}", "wrk"])
                or (output(["wrk", "-v"]).splitlines() or [""])[0]),
        "harness_python": platform.python_version(),
        "rustc": output(["rustc", "-V"]),
        "cargo": output(["cargo", "-V"]),
    }
    if venv:
        tools["fastapi_python"] = output([str(venv / "bin/python"), "-V"])
        tools["fastapi_venv"] = packages(venv)
    if mlserver_venv:
        tools["mlserver_venv"] = packages(mlserver_venv)
    return tools


def git_commit(short: bool = False) -> str:
    """HEAD's commit ("" outside a checkout)."""
    return output(["git", "-C", str(ROOT), "rev-parse", *(["--short"] if short else []), "HEAD"])


def git_info() -> dict:
    """The commit, and the files that differ from it."""
    commit = git_commit()
    # Names only: porcelain lines start with a two-letter status, which output()'s
    # strip would cut into on the first line.
    files = output(["git", "-C", str(ROOT), "diff", "HEAD", "--name-only"]).splitlines()
    return {"commit": commit or None, "dirty": bool(files) if commit else None,
            "modified_files": files}

