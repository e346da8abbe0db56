"""Child processes: free ports, CPU pinning, servers started, probed and stopped.

Every tool here starts servers on loopback and must not leave one running when it
fails or is interrupted: each child goes through `popen`, and whatever is still
running at exit is killed.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any, Callable

from . import ROOT, BenchError

_children: list[subprocess.Popen] = []


def free_port() -> int:
    """A loopback port nobody listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None

    def fn() -> None:
        os.sched_setaffinity(0, cpus)

    return fn


def _kill_children() -> None:
    for p in list(_children):
        if p.poll() is None:
            p.kill()
            p.wait()


def kill_children_at_exit() -> None:
    """Kill the children still running when the interpreter exits, or on SIGTERM."""
    atexit.register(_kill_children)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def popen(argv: list[str], cpus: set[int] | None = None, **kw: Any) -> subprocess.Popen:
    """Start a child (pinned to `cpus` if given), killed at exit if still running."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_pin(cpus), **kw)
    _children.append(p)
    return p


def forget(p: subprocess.Popen) -> None:
    """A child that has been waited for: no longer killed at exit."""
    if p in _children:
        _children.remove(p)


def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess:
    """Run a command to completion; a failure raises CalledProcessError."""
    return subprocess.run(argv, check=True, text=True, **kw)


def output(argv: list[str]) -> str:
    """A command's stripped stdout, or "" if it cannot run or fails."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def request(port: int, method: str, path: str, body: bytes | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body bytes)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Server:
    """One server process on a loopback port, pinned to `cpus`, output to a log file."""

    def __init__(self, argv: list[str], port: int, cpus: set[int] | None = None,
                 logfile: Path | None = None, env: dict[str, str] | None = None,
                 ready_path: str = "/") -> None:
        self.argv, self.env, self.port, self.cpus, self.logfile = argv, env, port, cpus, logfile
        self.ready_path = ready_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float, poll_s: float = 0.0001) -> float:
        """Spawn, poll GET ready_path every poll_s; returns ms from spawn to the first 200.

        Each probe is a fresh connection, so the time is the server's own start-up.
        """
        probe = (f"GET {self.ready_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Connection: close\r\n\r\n").encode()
        sink = open(self.logfile, "ab") if self.logfile else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            self.proc = popen(self.argv, self.cpus, env=self.env, stdout=sink,
                              stderr=subprocess.STDOUT, cwd=ROOT)
        finally:
            if self.logfile:
                sink.close()
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.argv[0]} exited with {self.proc.returncode} "
                                 f"before answering\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(probe)
                    head = s.recv(16)
                if head.startswith(b"HTTP/1.1 200"):
                    return (time.perf_counter() - t0) * 1000.0
                if head:
                    raise BenchError(f"GET {self.ready_path} answered {head!r}")
            except (ConnectionRefusedError, ConnectionResetError, TimeoutError):
                pass
            if time.perf_counter() - t0 > timeout:
                raise BenchError(f"{self.argv[0]} gave no 200 on GET {self.ready_path} "
                                 f"within {timeout} s\n{self.log_tail()}")
            time.sleep(poll_s)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after grace_s."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            forget(self.proc)

    def log_tail(self, n: int = 20) -> str:
        if not self.logfile:
            return ""
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
