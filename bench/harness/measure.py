"""The measurement: /proc readers, waiting for quiet, one cell, one target.

What wrk cannot see is read from /proc around each wrk run: the server's CPU time
(so CPU per request does not depend on how fast the load generator is), its peak
RSS, and the CPU that other processes took (a noise indicator; a noisy repetition
is measured again).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from . import BenchError, log, wrk
from .bodies import Body, request_body
from .checks import check_answers
from .processes import Server, free_port
from .settings import Context, Settings
from .targets import Target

CLK_TCK = os.sysconf("SC_CLK_TCK")
LATENCIES = ("p50", "p90", "p99", "p999", "mean")


def proc_cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads, live and exited), in ticks."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    return proc_cpu_ticks(pid) / CLK_TCK


def proc_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict of its lines."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def status_kb(pid: int, key: str) -> int:
    """A kB line of /proc/<pid>/status (VmRSS, VmHWM)."""
    return int(proc_status(pid)[key].split()[0])


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (proc(5): clear_refs "5"); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, steal) ticks summed over all CPUs, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
            return user + nice + system + irq + softirq + steal, steal
    raise BenchError("/proc/stat has no cpu line")


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def wait_quiet(limit_s: float, threshold_pct: float = 5.0) -> float:
    """Wait (up to limit_s) until other processes use < threshold_pct of the machine.

    Called between cells, while the server idles: what /proc/stat shows busy then is
    someone else's (a build, another benchmark). Returns the seconds waited.
    """
    if limit_s <= 0:
        return 0.0
    waited, ncpu = 0.0, os.cpu_count() or 1
    while True:
        b0, t0 = machine_busy_ticks()[0], time.perf_counter()
        time.sleep(0.5)
        busy = (machine_busy_ticks()[0] - b0) / CLK_TCK / ((time.perf_counter() - t0) * ncpu) * 100
        if busy < threshold_pct or waited >= limit_s:
            if busy >= threshold_pct:
                log(f"  machine still {busy:.0f}% busy after waiting {waited:.0f} s; "
                    "measuring anyway")
            return waited
        if waited == 0:
            log(f"  machine {busy:.0f}% busy with other work; "
                f"waiting up to {limit_s:.0f} s for quiet")
        time.sleep(2.0)
        waited += 2.5


def measure_rep(srv: Server, body: Body, lua: Path, conns: int, threads: int,
                loadgen_cpus: set[int], settings: Settings) -> dict:
    """One wrk repetition, bracketed by reads of /proc: the figures of one `reps[]` entry."""
    ncpu = os.cpu_count() or 1
    hwm_reset = reset_peak_rss(srv.pid)
    cpu0, (busy0, steal0) = proc_cpu_ticks(srv.pid), machine_busy_ticks()
    t0 = time.perf_counter()
    stats, wrk_cpu = wrk.run(lua, srv.port, conns, threads, settings.duration, loadgen_cpus,
                             settings.wrk_timeout)
    wall = time.perf_counter() - t0
    if not srv.running():  # an exited server's /proc/<pid>/status has no VmHWM
        raise BenchError(f"{srv.argv[0]} exited during wrk ({srv.proc.returncode})\n"
                         f"{srv.log_tail()}")
    cpu1, (busy1, steal1) = proc_cpu_ticks(srv.pid), machine_busy_ticks()
    st = proc_status(srv.pid)
    server_cpu = (cpu1 - cpu0) / CLK_TCK
    busy = (busy1 - busy0) / CLK_TCK
    secs = stats["duration_us"] / 1e6
    n = stats["requests"]
    lat = stats["latency_us"]
    return {
        "requests": n,
        "duration_s": round(secs, 3),
        "req_per_s": n / secs,
        "rows_per_s": n * body.rows / secs,
        "latency_ms": {k: lat[k] / 1000.0 for k in (*LATENCIES, "max")},
        "errors": stats["errors"],
        "server_cpu_s": server_cpu,
        "server_cpu_pct": 100.0 * server_cpu / wall,
        "cpu_us_per_req": 1e6 * server_cpu / n if n else None,
        "cpu_us_per_row": 1e6 * server_cpu / (n * body.rows) if n else None,
        "peak_rss_kb": int(st["VmHWM"].split()[0]),
        "peak_rss_reset": hwm_reset,
        "threads": int(st["Threads"]),
        "loadgen_cpu_pct": 100.0 * wrk_cpu / wall,
        "other_cpu_pct": max(0.0, 100.0 * (busy - server_cpu - wrk_cpu) / (wall * ncpu)),
        "steal_pct": 100.0 * (steal1 - steal0) / CLK_TCK / (wall * ncpu),
    }


def summarise(reps: list[dict]) -> dict:
    """A cell's figures from its repetitions: medians (peak RSS: the maximum)."""

    def med(key: str) -> float | None:
        return median([r[key] for r in reps if r[key] is not None])

    return {
        "req_per_s": med("req_per_s"),
        "rows_per_s": med("rows_per_s"),
        "latency_ms": {k: median([r["latency_ms"][k] for r in reps]) for k in LATENCIES},
        "cpu_us_per_req": med("cpu_us_per_req"),
        "cpu_us_per_row": med("cpu_us_per_row"),
        "server_cpu_pct": med("server_cpu_pct"),
        "peak_rss_kb": max(r["peak_rss_kb"] for r in reps),
        "loadgen_cpu_pct": med("loadgen_cpu_pct"),
        "other_cpu_pct": med("other_cpu_pct"),
        "errors": {k: sum(r["errors"][k] for r in reps) for k in reps[0]["errors"]},
    }


def measure_cell(srv: Server, body: Body, lua: Path, conns: int, loadgen_cpus: set[int],
                 settings: Settings, ctx: Context) -> dict:
    """One body at one connection count: warm-up, then the repetitions, medians."""
    # The same wrk in every cell (as many threads as the pinned cells' wrk CPUs):
    # a colocated cell differs only in where the two may run.
    threads = max(1, min(conns, len(ctx.loadgen_cpus)))
    waited = wait_quiet(settings.quiet_wait)
    if settings.warmup > 0:
        wrk.run(lua, srv.port, conns, threads, settings.warmup, loadgen_cpus,
                settings.wrk_timeout)
    reps: list[dict] = []
    rejected, redos = [], settings.noise_redos
    while len(reps) < settings.reps:
        one = measure_rep(srv, body, lua, conns, threads, loadgen_cpus, settings)
        if one["other_cpu_pct"] > settings.noise_limit and redos > 0:
            # Someone else took CPU during this repetition: measure it again once quiet.
            redos -= 1
            rejected.append(one)
            log(f"  other processes used {one['other_cpu_pct']:.0f}% of the machine: repeating")
            waited += wait_quiet(settings.quiet_wait)
            continue
        reps.append(one)
    cell = {"body": body.name, "rows": body.rows, "connections": conns, "wrk_threads": threads,
            **summarise(reps), "waited_for_quiet_s": waited, "reps": reps,
            "rejected_noisy_reps": rejected}
    e = cell["errors"]
    log(f"  {body.name:9} c={conns:<3} {cell['req_per_s']:>10.0f} req/s "
        f"{cell['rows_per_s']:>11.0f} rows/s "
        f"p50 {cell['latency_ms']['p50']:.3f} p99 {cell['latency_ms']['p99']:.3f} ms "
        f"cpu {cell['cpu_us_per_req'] or 0:.1f} us/req rss {cell['peak_rss_kb'] / 1024:.1f} MiB"
        + (f"  ERRORS {e}" if any(e.values()) else ""))
    return cell


def start(target: Target, api: str, settings: Settings, ctx: Context) -> tuple[Server, list[float]]:
    """Start the target's server cold_discard + cold_reps times; the last one stays up.

    Returns it with the cold starts (ms) of the starts that are not discarded.
    """
    subs = dict(ctx.subs, api=api, module=api.replace("-", "_"))
    # WINE_* (MLSERVER_*) settings in the caller's environment would silently change a server.
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("WINE_", "MLSERVER_"))}
    server_cpus = ctx.cpus(target.colocated)[0]
    cold: list[float] = []
    srv = None
    for i in range(settings.cold_discard + settings.cold_reps):
        if srv:
            srv.stop()
        ports = dict(port=free_port(), port2=free_port(), port3=free_port())
        env = dict(base_env, **target.environment(dict(subs, **ports)))
        srv = Server(target.argv(dict(subs, **ports)), ports["port"], server_cpus,
                     ctx.work / f"{target.name}-{api}.log", env, target.ready_path)
        ms = srv.start(settings.start_timeout)
        if i >= settings.cold_discard:
            cold.append(ms)
    assert srv is not None
    return srv, cold


def measure_target(target: Target, api: str, bodies: list[Body], settings: Settings,
                   ctx: Context) -> dict:
    """One target on one API: cold start, idle RSS, answers checked, then every cell."""
    wait_quiet(settings.quiet_wait)
    srv, cold = start(target, api, settings, ctx)
    log(f"{target.name} {api}: cold start {', '.join(f'{c:.1f}' for c in cold)} ms "
        f"(pid {srv.pid})")
    loadgen_cpus = ctx.cpus(target.colocated)[1]
    try:
        time.sleep(settings.settle)
        idle_rss = status_kb(srv.pid, "VmRSS")
        check_answers(srv.port, target, bodies, settings.sanity)
        cells = []
        for body in bodies:
            lua = wrk.write_script(ctx.work / f"{target.name}-{body.name}.lua",
                                   target.predict_path, request_body(target, body))
            for conns in settings.connections:
                cells.append(measure_cell(srv, body, lua, conns, loadgen_cpus, settings, ctx))
        time.sleep(settings.settle)
        after_rss = status_kb(srv.pid, "VmRSS")
        if not srv.running():
            raise BenchError(f"{target.name} {api} died during the run\n{srv.log_tail()}")
    finally:
        srv.stop()
    shown = dict(ctx.subs, api=api, module=api.replace("-", "_"), port="PORT", port2="PORT2",
                 port3="PORT3")
    return {
        "name": target.name,
        "api": api,
        "colocated": target.colocated,
        "command": target.argv(shown),
        "env": target.environment(shown),
        "cold_start_ms": median(cold),
        "cold_start_ms_all": cold,
        "idle_rss_kb": idle_rss,
        "rss_after_load_kb": after_rss,
        "cells": cells,
    }
