"""The markdown reports, rendered from the result JSON alone.

A report is a function of its JSON and nothing else (no clock, no machine), so
`--render` rewrites it and bench/tests checks the committed reports against their
JSON: bench/run's `<date>.md`, bench/clients' `<date>-clients.md`, bench/ab's table,
bench/swarm's `<date>-swarm.md`.
"""

from __future__ import annotations

from .figures import ISSUE_FASTAPI_REFERENCE, cell_of
from .targets import BASELINE, COLOCATED, NO_METRICS, SUBJECT, TARGETS


def fmt(x: float | None, digits: int = 0, suffix: str = "") -> str:
    """A figure with thousands separators; a small one with 0 digits gets 1 or 2."""
    if x is None:
        return "–"
    if isinstance(x, float) and digits == 0 and abs(x) < 10:
        digits = 2 if abs(x) < 1 else 1
    return fixed(x, digits) + suffix


def fixed(x: float | None, digits: int = 0) -> str:
    """A figure with thousands separators and exactly `digits` digits; – if missing."""
    return "–" if x is None else f"{x:,.{digits}f}"


def row(*cells: object) -> str:
    """A markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


# --- bench/run: <date>.md ---------------------------------------------------------


def _header(res: dict) -> list[str]:
    m, s, t, g = res["machine"], res["settings"], res["tools"], res["git"]
    server_cpus, wrk_cpus = (",".join(map(str, m[k])) for k in ("server_cpus", "loadgen_cpus"))
    lines = [
        f"# Benchmark {res['date']} ({res['mode']})\n",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_mib']:,} MiB, "
        f"kernel {m['kernel']}, {m['os']}. "
        f"Server pinned to CPU {server_cpus}, wrk to CPU {wrk_cpus}"
        f"{' (shared!)' if m['cpus_shared'] else ''}. "
        f"Load average at start: {' '.join(m['loadavg_at_start'])}.\n",
    ]
    changed = ", ".join(g.get("modified_files", []))
    fastapi = t.get("fastapi_venv", {})
    lines.append(
        f"Commit: {g['commit'] or 'none (no commits yet)'}"
        f"{' + uncommitted changes to ' + changed if g.get('dirty') else ''}. "
        f"wrk {t.get('wrk')}, {t.get('rustc')}, FastAPI baseline: "
        f"Python {t.get('fastapi_python', '–').replace('Python ', '')}, "
        + ", ".join(f"{k} {fastapi.get(k, '–')}"
                    for k in ("fastapi", "uvicorn", "pydantic", "scikit-learn", "numpy"))
        + ".\n")
    if t.get("mlserver_venv"):
        packages = ("mlserver", "mlserver-sklearn", "uvicorn", "scikit-learn", "numpy")
        lines.append("MLServer peer: "
                     + ", ".join(f"{k} {t['mlserver_venv'].get(k, '–')}" for k in packages)
                     + "; its settings are each target's `env` in the JSON.\n")
    lines.append(
        f"Method: wrk, locustfile bodies, {s['connections']} connections, "
        f"warm-up {s['warmup_s']} s, "
        f"{s['repetitions']} x {s['duration_s']} s, median of repetitions; one server at a time; "
        f"cold start = spawn to first 200 on GET / (MLServer: its model's ready path; "
        f"median of {s['cold_start_repetitions']}). "
        f"Run took {res['wall_s'] / 60:.1f} min.\n")
    return lines


def _checks(res: dict) -> list[str]:
    lines = []
    sk = res.get("sklearn_baseline")
    if sk:
        lines.append(f"scikit-learn baseline: {sk['predictions_equal']}/{sk['rows']} reference "
                     f"predictions reproduced exactly "
                     f"(predict_proba equal: {sk['predict_proba_equal']}).\n")
    mk = res.get("mlserver_sklearn")
    if mk:
        lines.append(f"MLServer's scikit-learn: {mk['predictions_equal']}/{mk['rows']} reference "
                     f"predictions reproduced exactly when trained; "
                     f"served, it answered all {mk['rows']} reference rows as recorded "
                     f"(checked before measuring).\n")
    if res.get("skipped"):
        lines.append("Skipped: " + "; ".join(f"{x['name']} {x['api']} "
                                             f"({x['reason'].splitlines()[0]})"
                                             for x in res["skipped"]) + "\n")
    return lines


def _throughput(res: dict) -> list[str]:
    m, s = res["machine"], res["settings"]
    lines = [
        "## Throughput and latency\n",
        f"`{NO_METRICS}` is `{SUBJECT}` with `--no-metrics`; the `{COLOCATED}*` targets run "
        f"the server and wrk unpinned on all {m.get('cores_usable', m['cores'])} usable CPUs "
        f"(the load generator on the server's machine, as users run the lab), with "
        f"wine-server's default threads and with one per CPU. CPU µs is the server's CPU "
        f"time per request and per row: it does not depend on how fast the load generator "
        f"is.\n",
        row("body", "conns", "target", "req/s", "rows/s", "p50 ms", "p90 ms", "p99 ms",
            "CPU µs/req", "CPU µs/row", "server CPU %", "peak RSS MiB", "wrk CPU %",
            "others' CPU % of machine"),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in res["bodies"]:
        for conns in s["connections"]:
            for name in [x.name for x in TARGETS]:
                c = cell_of(res, name, b["name"], conns)
                if not c:
                    continue
                lat = c["latency_ms"]
                err = " ⚠ errors" if any(c["errors"].values()) else ""
                lines.append(row(
                    b["name"], conns, f"{name}{err}", fmt(c["req_per_s"]), fmt(c["rows_per_s"]),
                    fmt(lat["p50"], 3), fmt(lat["p90"], 3), fmt(lat["p99"], 3),
                    fmt(c["cpu_us_per_req"], 1), fmt(c.get("cpu_us_per_row"), 2),
                    f"{c['server_cpu_pct']:.0f}", fmt(c["peak_rss_kb"] / 1024, 1),
                    f"{c['loadgen_cpu_pct']:.0f}", f"{c['other_cpu_pct']:.0f}"))
    return lines + [""]


def _ratios(res: dict) -> list[str]:
    lines = [
        "## Ratios\n",
        row("body", "conns", "ours / FastAPI req/s (= rows/s)", "ours / ceiling req/s",
            "FastAPI p99 / ours p99", "ours p99 / ceiling p99"),
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["ratios"]:
        lines.append(row(r["body"], r["connections"], fmt(r["ours_over_fastapi_req"], 1, "x"),
                         fmt(r["ours_over_ceiling_req"], 3),
                         fmt(r["fastapi_over_ours_p99"], 1, "x"),
                         fmt(r["ours_over_ceiling_p99"], 2)))
    return lines + [""]


def _memory(res: dict) -> list[str]:
    lines = [
        "## Start-up and memory\n",
        row("target", "api", "cold start ms", "idle RSS MiB", "RSS after load MiB",
            "peak RSS under load MiB"),
        "|---|---|---:|---:|---:|---:|",
    ]
    for x in res["targets"]:
        peak = max((c["peak_rss_kb"] for c in x["cells"]), default=None)
        lines.append(row(x["name"], x["api"], fmt(x["cold_start_ms"], 1),
                         fmt(x["idle_rss_kb"] / 1024, 1), fmt(x["rss_after_load_kb"] / 1024, 1),
                         fmt(peak and peak / 1024, 1)))
    return lines + [""]


def _goals(res: dict) -> list[str]:
    lines = [
        "## The issue's goals (reported, not asserted)\n",
        row("goal", "measured", "target", "met"),
        "|---|---:|---:|---|",
    ]
    for gl in res["goals"]:
        op = ">=" if gl["at_least"] else "<="
        met = {True: "met", False: "**missed**", None: "n/a"}[gl["met"]]
        digits = 2 if gl["unit"] != "x" or (gl["value"] or 0) < 10 else 0
        value = fmt(gl["value"], digits, gl["unit"] and " " + gl["unit"])
        lines.append(row(gl["goal"], value, f"{op} {gl['threshold']:g} {gl['unit']}", met))
    return lines + [""]


def _issue_reference(res: dict) -> list[str]:
    ref = ISSUE_FASTAPI_REFERENCE
    rows = []
    for (body, conns), want in ((k, v) for k, v in ref.items() if isinstance(k, tuple)):
        c = cell_of(res, BASELINE, body, conns)
        if c:
            got = ", ".join(f"{k} {fmt(c['latency_ms']['p99'], 1)}" if k == "p99_ms"
                            else f"{k} {fmt(float(round(c[k])))}" for k in want)
            issue = ", ".join(f"{k} {v:,}" for k, v in want.items())
            rows.append(row(f"{body} @ {conns}", issue, got))
    base = [x for x in res["targets"] if x["name"] == BASELINE]
    if base:
        peak = max(c["peak_rss_kb"] for x in base for c in x["cells"]) / 1024
        cold = max(x["cold_start_ms"] for x in base)
        rows.append(row("RSS / cold start", f"~{ref['rss_mib']} MiB, {ref['cold_start_ms']} ms",
                        f"peak {peak:.0f} MiB, {cold:.0f} ms"))
    if not rows:
        return []
    return ["## FastAPI baseline against the issue's reference figures (20 s runs)\n",
            row("cell", "issue", "this run"), "|---|---|---|", *rows, ""]


def _notes(res: dict) -> list[str]:
    lines = []
    cells = [(x["name"], c) for x in res["targets"] for c in x["cells"]]
    noisy = [c["other_cpu_pct"] for _, c in cells if c["other_cpu_pct"] > 5]
    if noisy:
        lines.append(f"Noise: {len(noisy)} cells saw other processes use > 5% of the machine's "
                     f"CPU (max {max(noisy):.0f}%); see `other_cpu_pct` in the JSON.\n")
    bound = [f"{n} {c['body']}@{c['connections']}" for n, c in cells if c["loadgen_cpu_pct"] > 90]
    if bound:
        lines.append("Load-generator bound (wrk's CPU > 90%, so the server may be faster than "
                     "shown): " + ", ".join(bound) + ".\n")
    return lines


def render_md(res: dict) -> str:
    """bench/run's report: machine, method, then throughput, ratios, memory and goals."""
    sections = (_header, _checks, _throughput, _ratios, _memory, _goals, _issue_reference,
                _notes)
    return "\n".join(line for section in sections for line in section(res))


# --- bench/clients: <date>-clients.md ---------------------------------------------

CLIENT_SERVERS = ["no-batch", "batch-1", "batch-32", "batch-64"]


def load_generator(client: str, workers: int) -> str:
    """As wine-lab's report says it, e.g. `FastHttpUser, 2 workers`."""
    user = {"http": "HttpUser", "fast": "FastHttpUser"}.get(client, client)
    if workers == 0:
        return f"{user}, one process"
    return f"{user}, {workers} worker{'s' if workers > 1 else ''}"


def render_clients(res: dict) -> str:
    """bench/clients' report: one row per user count and Locust set-up."""
    servers = CLIENT_SERVERS
    machine = res["machine"]
    lines = [
        f"# Locust set-ups of the lab {res['date']}\n",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}. "
        f"Commit {res['commit']}. {res['locust_version'].split(' from ')[0].capitalize()}. "
        f"Each set-up: `wine-lab --headless --users "
        f"{res['users']} --duration {res['duration']}` (the four servers and Locust on "
        f"loopback, unpinned), one after the other; run took {res['wall_s'] / 60:.1f} min.\n",
        row("users", "Locust", "requests/s (4 names)", "× one process, HttpUser", "failures",
            "Locust CPU %", "servers CPU %", "load generator the limit",
            "client p50 ms (no-batch)", "server p50 ms: " + " / ".join(servers)),
        "|---:|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    runs = res["runs"]
    base = {r["users"]: r["requests_per_s"] for r in runs[0]["rows"]} if runs else {}
    for users in sorted({r["users"] for run in runs for r in run["rows"]}):
        for r in (r for run in runs for r in run["rows"] if r["users"] == users):
            ratio = r["requests_per_s"] / base[users] if base.get(users) else None
            lines.append(row(
                users, load_generator(r["client"], r["workers"]), fixed(r["requests_per_s"]),
                f"{fixed(ratio, 2)}×", r["failures"], fixed(r["locust_cpu_percent"]),
                fixed(r["servers_cpu_percent"]), "yes" if r["load_generator_limited"] else "no",
                fixed(r["client_median_ms"].get("no-batch"), 1),
                " / ".join(fixed(r["server_p50_ms"].get(s), 3) for s in servers)))
    return "\n".join(lines) + "\n"


# --- bench/ab: the table it prints ---------------------------------------------------


def render_ab(res: dict) -> str:
    """bench/ab's summary: each variant's medians, and against the first variant."""
    settings, medians = res["settings"], res["medians"]
    variants = [text.partition("=") for text in settings["variants"]]
    first = variants[0][0]
    lines = [
        f"{settings['body']}, {settings['connections']} connections, "
        f"wrk -t{settings['wrk_threads']}, {res['shape']}; "
        f"median of {settings['rounds']} interleaved rounds of {settings['duration']} s",
        row("variant", "flags", "req/s", f"vs {first}", "p99 ms", "CPU µs/req", f"vs {first}"),
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    b = medians[first]
    for name, _, extra in variants:
        m = medians[name]
        lines.append(row(name, " ".join(extra.split()) or "(defaults)", f"{m['req_per_s']:,.0f}",
                         f"{m['req_per_s'] / b['req_per_s']:.3f}", f"{m['p99_ms']:.3f}",
                         f"{m['cpu_us_per_req']:.2f}",
                         f"{m['cpu_us_per_req'] / b['cpu_us_per_req']:.3f}"))
    return "\n".join(lines) + "\n"


# --- bench/swarm: <date>-swarm.md ------------------------------------------------------


def _service_rows(run: dict, service: str) -> list[dict]:
    """The stats_servers.csv rows of one service: `batch-1`, or `batch-1 (<address>)`."""
    return [s for s in run["servers"]
            if s["server"] == service or s["server"].startswith(f"{service} (")]


def cpu_us_per_request(run: dict, service: str) -> float | None:
    """A service's own CPU per request over its replicas, weighted by their requests."""
    rows = [s for s in _service_rows(run, service)
            if s["requests"] and s["cpu_us_per_request"] is not None]
    requests = sum(s["requests"] for s in rows)
    if not requests:
        return None
    return sum(s["cpu_us_per_request"] * s["requests"] for s in rows) / requests


def stack_name(run: dict) -> str:
    return {"compose": "Compose", "swarm": "Swarm"}[run["engine"]]


def locust_setup(run: dict) -> str:
    workers = run["workers"]
    return "one process" if not workers else f"{workers} worker{'s' if workers > 1 else ''}"


def render_swarm(res: dict) -> str:
    """bench/swarm's report: one row per stack and Locust set-up."""
    machine, servers = res["machine"], CLIENT_SERVERS
    runs = res["runs"]
    base = runs[0]["requests_per_s"] if runs else None
    lines = [
        f"# The lab's stack on Compose and on Swarm {res['date']}\n",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, linux {machine['kernel']}, "
        f"Docker engine {machine['docker']['engine']} (client {machine['docker']['client']}). "
        f"Commit {res['commit']}. One node: every container on this machine. Each set-up: "
        f"Locust headless in the stack, {res['users']} users started at once, "
        f"{res['duration']}, HttpUser (the seed's locustfile.py); servers: one container "
        f"each on Compose, {res['replicas']} replica{'s' if res['replicas'] > 1 else ''} each "
        f"on Swarm. Requests/s and CPU over the steady part of each run (from 3 s after the "
        f"first request); run took {res['wall_s'] / 60:.1f} min.\n",
        row("stack", "Locust", "requests/s", f"× {stack_name(runs[0])}, "
            f"{locust_setup(runs[0])}" if runs else "×", "failures",
            "Locust CPU % (each process)", "servers CPU % (all)",
            "server CPU µs/request: " + " / ".join(servers), "machine busy %"),
        "|---|---|---:|---:|---:|---|---:|---|---:|",
    ]
    for run in runs:
        locust = ", ".join(f"{name} {fixed(cpu)}" for name, cpu in run["locust_cpu_percent"]
                           .items())
        servers_cpu = sum(s["cpu_percent"] or 0 for s in run["servers"])
        lines.append(row(
            stack_name(run), locust_setup(run), fixed(run["requests_per_s"]),
            f"{fixed(run['requests_per_s'] / base, 2)}×" if base else "–", run["failures"],
            locust, fixed(servers_cpu), " / ".join(fmt(cpu_us_per_request(run, s), 0)
                                                    for s in servers),
            fixed(run["machine_busy_percent"])))
    lines += [
        "",
        "Memory (largest resident set in the window, MiB):\n",
        row("stack", "Locust", "each Locust process", "each server container"),
        "|---|---|---|---|",
    ]
    for run in runs:
        locust = ", ".join(f"{name} {fixed(mib)}" for name, mib in run["locust_rss_mib"].items())
        sizes = [s["rss_mib"] for s in run["servers"] if s["rss_mib"] is not None]
        lines.append(row(stack_name(run), locust_setup(run), locust,
                         f"{fixed(min(sizes), 1)}–{fixed(max(sizes), 1)}" if sizes else "–"))
    if res.get("ceiling"):
        lines += [
            "",
            "One replica's ceiling: wrk from a Locust worker's network namespace to one "
            "server replica's address on the swarm's overlay network, the locustfile's "
            "body, the server pinned to one CPU and wrk to the other, 10 s each:\n",
            row("body", "connections", "requests/s", "server CPU %", "server CPU µs/request",
                "one core ÷ that: requests/s", "errors"),
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for c in res["ceiling"]:
            per = c["cpu_us_per_request"]
            lines.append(row(c["body"], c["connections"], fixed(c["requests_per_s"]),
                             fixed(c["server_cpu_percent"]), fmt(per, 1),
                             fixed(1e6 / per) if per else "–", c["errors"]))
        lines.append(
            "\nWhere the server's CPU stays under 100%, wrk (one core) and the network path "
            "are the limit, not the replica; the last column is what one core gives at that "
            "CPU per request.")
    return "\n".join(lines) + "\n"
