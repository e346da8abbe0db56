"""The lab's Docker stacks for bench/swarm: Compose projects, a single-node swarm
and stacks on it, Locust run headless in each, and the CPU of their processes.

Everything started here is removed again, also when a step fails or the run is
interrupted (each piece is a context manager): Compose projects with `down`,
stacks with `docker stack rm` (waiting until nothing of them is left), and a swarm
this module initialised with `docker swarm leave --force`, after which the
networks swarm mode creates (`docker_gwbridge`, `ingress`) are removed unless they
were there before. Traffic stays on this machine: the swarm advertises and listens
on 127.0.0.1, and every request goes between containers of this one node.

The same steps as the Rust tests' (tests/e2e/swarm.rs, tests/e2e/project.rs), in
Python because the benchmark harness is Python; tests/swarm.rs is what checks them.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import ROOT, BenchError, log

COMPOSE = ROOT / "docker-compose.yml"
WORKERS_OVERLAY = ROOT / "docker-compose.workers.yml"
SWARM_OVERLAY = ROOT / "docker-compose.swarm.yml"
IMAGES_JSON = ROOT / "deploy" / "images.json"
SERVERS = ("no-batch", "batch-1", "batch-32", "batch-64")
MASTER, WORKER = "locust", "locust-worker"
SWARM_NETWORKS = ("docker_gwbridge", "ingress")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STEP = 120  # seconds any one docker command may take


def docker(*args: str, env: dict | None = None, timeout: float = STEP, check: bool = True) -> str:
    """A docker (or docker-compose, if args[0] is it) command's stdout; a failure is a
    BenchError naming the command with what it printed."""
    argv = list(args) if args[0] == "docker-compose" else ["docker", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"`{' '.join(argv)}` took over {timeout:.0f} s") from e
    except OSError as e:
        raise BenchError(f"cannot run {argv[0]}: {e}") from e
    if check and done.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` failed ({done.returncode}): "
                         f"{done.stdout.strip()} {done.stderr.strip()}")
    return done.stdout + (done.stderr if not check else "")


def succeeds(*args: str) -> bool:
    """Whether a docker command exits 0 (its output ignored)."""
    return subprocess.run(["docker", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=STEP).returncode == 0


def image_tags() -> list[str]:
    """The lab's images as deploy/images.json names them."""
    spec = json.loads(IMAGES_JSON.read_text())
    return [f"{spec['repository']}:{tag}" for tag in [*spec["servers"], spec["locustTag"]]]


def require_images() -> None:
    """Every image must be in the local Docker; else say how to build them."""
    for tag in image_tags():
        if not succeeds("image", "inspect", tag):
            raise BenchError(f"{tag} is not in this machine's Docker; build the lab's images "
                             "first: WINE_LAB_TAG_IMAGES=1 cargo test --test compose -- "
                             "--ignored docker_images")


def engine_versions() -> dict:
    return {"engine": docker("version", "--format", "{{.Server.Version}}").strip(),
            "client": docker("version", "--format", "{{.Client.Version}}").strip()}


def networks() -> set[str]:
    return set(docker("network", "ls", "--format", "{{.Name}}").split())


def swarm_state() -> str:
    return docker("info", "--format",
                  "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").strip()


class Swarm:
    """The active swarm if this node manages it, else one initialised on 127.0.0.1
    and left again on exit, with the daemon's networks as they were."""

    def __enter__(self) -> Swarm:
        state = swarm_state()
        self.networks_before = networks()
        self.initialised = state == "inactive false"
        if self.initialised:
            docker("swarm", "init", "--advertise-addr", "127.0.0.1",
                   "--listen-addr", "127.0.0.1:2377")
            log("swarm initialised on 127.0.0.1 (left again at the end)")
        elif state != "active true":
            raise BenchError(f"swarm state `{state}`: bench/swarm needs none (it makes one) "
                             "or an active one this node manages")
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.initialised:
            return
        docker("swarm", "leave", "--force", check=False)
        deadline = time.monotonic() + 30
        while (stray := networks() - self.networks_before) and time.monotonic() < deadline:
            for name in stray & set(SWARM_NETWORKS):
                docker("network", "rm", name, check=False)
            time.sleep(0.5)
        if stray:
            log(f"cleanup FAILED: the daemon keeps networks it did not have: {sorted(stray)}")
        else:
            log("swarm left; the daemon's networks are as they were")


def wait(what: str, ready, limit: float = 60.0, every: float = 0.25):
    """Polls `ready()` until it returns something true; a BenchError after `limit` s."""
    deadline = time.monotonic() + limit
    while not (found := ready()):
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {limit:.0f} s")
        time.sleep(every)
    return found


def healthy(ids: list[str]) -> bool:
    """Every container running and, if it has a health check, healthy: Docker
    says so, or the image's own check passes when run now. Docker 20.10 runs
    its first check a whole interval (60 s, deploy/images.json) after the start."""
    spec = json.loads(IMAGES_JSON.read_text())
    check = [spec["serverBinary"], *spec["healthcheck"]["args"]]
    for cid in ids:
        state = docker("inspect", "--format",
                       "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}"
                       "{{else}}healthy{{end}}", cid, check=False).split()
        if state == ["running", "starting"]:
            passed = subprocess.run(["docker", "exec", cid, *check], capture_output=True,
                                    timeout=STEP).returncode == 0
            state = ["running", "healthy" if passed else "starting"]
        if state != ["running", "healthy"]:
            return False
    return bool(ids)


def container_pid(cid: str) -> int:
    return int(docker("inspect", "--format", "{{.State.Pid}}", cid).strip())


def unique_name(kind: str) -> str:
    return f"wine-bench-{kind}-{int(time.time() * 1000)}-{os.getpid()}"


class SwarmStack:
    """docker-compose.yml + docker-compose.swarm.yml (+ overrides) as a stack."""

    def __init__(self, overrides: list[Path], env: dict) -> None:
        self.name = unique_name("swarm")
        self.files = [COMPOSE, SWARM_OVERLAY, *overrides]
        self.env = env

    def __enter__(self) -> SwarmStack:
        argv = ["stack", "deploy", "--resolve-image", "never"]
        for f in self.files:
            argv += ["--compose-file", str(f)]
        docker(*argv, self.name, env=self.env)
        return self

    def containers(self, service: str, running: bool = True) -> list[str]:
        flags = [] if running else ["--all"]
        return docker("ps", "--quiet", *flags, "--filter",
                      f"label=com.docker.swarm.service.name={self.name}_{service}").split()

    def scale(self, service: str, replicas: int) -> None:
        docker("service", "scale", "--detach", f"{self.name}_{service}={replicas}")

    def __exit__(self, *_exc: object) -> None:
        docker("stack", "rm", self.name, check=False)
        label = f"label=com.docker.stack.namespace={self.name}"

        def gone() -> bool:
            return not any(docker(*query, "--quiet", "--filter", label, check=False).split()
                           for query in (["service", "ls"], ["ps", "--all"],
                                         ["network", "ls"], ["config", "ls"]))
        try:
            wait(f"docker stack rm {self.name}", gone)
        except BenchError as e:
            log(f"cleanup FAILED: {e}")


class ComposeProject:
    """docker-compose.yml (+ overlays) as a Compose project of its own."""

    def __init__(self, overlays: list[Path]) -> None:
        self.name = unique_name("compose")
        self.files = [COMPOSE, *overlays]

    def compose(self, *args: str, timeout: float = STEP) -> str:
        argv = ["docker-compose", "--project-name", self.name]
        for f in self.files:
            argv += ["--file", str(f)]
        return docker(*argv, *args, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        argv = ["docker-compose", "--project-name", self.name]
        for f in self.files:
            argv += ["--file", str(f)]
        return subprocess.Popen([*argv, *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def containers(self, service: str, oneoff: bool = False) -> list[str]:
        return docker("ps", "--quiet", "--filter",
                      f"label=com.docker.compose.project={self.name}", "--filter",
                      f"label=com.docker.compose.service={service}", "--filter",
                      f"label=com.docker.compose.oneoff={'True' if oneoff else 'False'}").split()

    def __enter__(self) -> ComposeProject:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")
        except BenchError as e:
            log(f"cleanup FAILED: {e}")


# --- CPU of processes, sampled while a run goes ---------------------------------------


def proc_ticks(pid: int) -> int | None:
    """utime + stime of a process (all threads), in ticks; None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def proc_rss_kb(pid: int) -> int | None:
    """A process's resident memory (VmRSS), in KiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks over all CPUs, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:8]]
            return sum(v) - v[3] - v[4], sum(v)
    raise BenchError("/proc/stat has no cpu line")


@dataclass
class Sampler:
    """Samples the CPU ticks and resident memory of named processes, and the
    machine's CPU ticks, every `every` s."""

    every: float = 0.5
    pids: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, int | None], tuple[int, int]]] = field(
        default_factory=list)
    rss: list[tuple[float, dict[str, int | None]]] = field(default_factory=list)

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            self.samples.append((now, {n: proc_ticks(p) for n, p in self.pids.items()},
                                 machine_ticks()))
            self.rss.append((now, {n: proc_rss_kb(p) for n, p in self.pids.items()}))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_percent(self, start: float, end: float) -> tuple[dict[str, float], float]:
        """Each process's CPU (% of one core) and the machine's busy share (% of all
        its cores) between the samples nearest `start` and `end`; a process must be
        alive at both."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            raise BenchError("too few CPU samples in the measured window")
        (t0, p0, m0), (t1, p1, m1) = inside[0], inside[-1]
        per = {n: 100 * (p1[n] - p0[n]) / CLK_TCK / (t1 - t0)
               for n in self.pids if p0.get(n) is not None and p1.get(n) is not None}
        return per, 100 * (m1[0] - m0[0]) / max(m1[1] - m0[1], 1)

    def peak_rss_mib(self, start: float, end: float) -> dict[str, float]:
        """Each process's largest resident memory between `start` and `end`, MiB."""
        peaks: dict[str, float] = {}
        for when, sizes in self.rss:
            if start <= when <= end:
                for name, kb in sizes.items():
                    if kb is not None:
                        peaks[name] = max(peaks.get(name, 0.0), kb / 1024)
        return peaks


# --- Locust's files ------------------------------------------------------------------


def history(out: Path) -> list[tuple[float, int]]:
    """(time, total requests) of the Aggregated rows of stats_stats_history.csv."""
    path = out / "stats_stats_history.csv"
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            try:
                if r["Name"] == "Aggregated":
                    rows.append((float(r["Timestamp"]), int(r["Total Request Count"])))
            except (KeyError, ValueError):
                continue  # a row Locust is still writing
    return rows


def totals(out: Path) -> dict:
    """The Aggregated row of stats_stats.csv: requests, failures."""
    with (out / "stats_stats.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            if r["Name"] == "Aggregated":
                return {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"])}
    raise BenchError("stats_stats.csv has no Aggregated row")


def servers_csv(out: Path) -> list[dict]:
    """stats_servers.csv (locust_servers.py): each server address's own figures."""
    path = out / "stats_servers.csv"
    if not path.exists():
        raise BenchError("Locust wrote no stats_servers.csv (is locust_servers.py loaded?)")
    with path.open(newline="") as f:
        return [{k: (v if k in ("server", "status") else float(v) if v else None)
                 for k, v in r.items()} for r in csv.DictReader(f)]


def headless_env(users: int, duration: str, workers: int) -> dict[str, str]:
    """Locust's settings for a headless run writing its CSVs to /out."""
    env = {"LOCUST_HEADLESS": "true", "LOCUST_USERS": str(users),
           "LOCUST_SPAWN_RATE": str(users), "LOCUST_RUN_TIME": duration,
           "LOCUST_STOP_TIMEOUT": "5", "LOCUST_CSV": "/out/stats",
           "LOCUST_ONLY_SUMMARY": "true"}
    if workers:
        env |= {"LOCUST_EXPECT_WORKERS": str(workers), "LOCUST_EXPECT_WORKERS_MAX_WAIT": "60"}
    return env
