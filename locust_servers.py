"""The servers' own figures on Locust's page: a Locust extension for the wine lab.

Load it beside the lab's locustfile, unchanged, with Locust's multi-file option:

    locust -f locustfile.py,locust_servers.py

Why: Locust measures Locust. With servers that answer in tens of microseconds,
every request of the lab waits in Locust (one Python core), so Locust's latency
columns are the same for the four servers and show nothing of batching. Each
server measures itself at GET /metrics (Prometheus text): the requests it
answered, the rows it classified, a histogram of its time per request and its
CPU time. While a test runs, this extension reads them every SCRAPE_EVERY
seconds and shows, for each server, what the lab is about: the time and CPU a
request costs the server, and the CPU per row, where batching pays.

Where it shows, only in the process that has the statistics (a local runner or
the master; workers load this file and do nothing):

- a "Servers" tab on Locust's own page, refreshed by the page's own poll of
  /stats/requests, with its CSV among the page's downloads;
- at the end of a run, a table after Locust's summary, and
  <prefix>_servers.csv with --csv (wine-lab's report reads that file).

The servers are those the locustfile loads: each Compose service at
http://<service>:80, or $<SERVICE>_URL (the locustfile's own rule), shown and
editable under "Custom parameters" as --servers. A name that resolves to several
addresses (replicas under Docker Swarm's DNS round-robin, or Compose's --scale)
gets a row per address. A server that cannot be read keeps its row, with the
reason; the others go on.

It also makes Locust stop cleanly when the stack stops: SIGINT (the images'
stop signal) reaches Locust's main greenlet, so its reports are written, and a
server's answer saying it is stopping stops the test, so a stop of the stack
fails no request ("Stopping" below).

Only Locust's documented extension points are used (Locust 2.47, locust/web.py
and examples/extend_web_ui.py): the events init_command_line_parser, init,
test_start, test_stop, reset_stats, request and quit; custom messages from
workers to the master; a blueprint on the web UI's Flask
app, and an after_request hook adding "extended_stats" to /stats/requests; the
template_args "extended_tabs", "extended_tables" and "extended_csv_files";
and gevent's signal_handler, as Locust's main.py uses it for SIGTERM.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, fields, replace
from urllib.parse import urlsplit

import gevent
import greenlet
import psutil
from flask import Blueprint, make_response, request
from locust import events
from locust.runners import MasterRunner, WorkerRunner

# ---------------------------------------------------------------------------
# Settings

#: The lab's servers, as Compose services, in the order the tables list them.
SERVICES = ("no-batch", "batch-1", "batch-32", "batch-64")

#: Seconds between two reads of every server while a test runs: Locust's page
#: polls every 2 s. A read costs a server about 0.26 ms of CPU (0.013% of a
#: core at this pace) and this process about 1 ms.
SCRAPE_EVERY = 2.0

#: Seconds a server may take to accept and answer a read of /metrics before
#: its row shows an error; the servers are read side by side.
SCRAPE_TIMEOUT = 1.0

#: The largest /metrics answer read (the servers' is about 40 kB).
MAX_METRICS_BYTES = 4 << 20

#: The route whose requests the table counts: the lab's.
ROUTE = "/predict"

#: Metric names, as the servers write them (src/metrics.rs; a test checks).
REQUESTS_TOTAL = "wine_http_requests_total"
REQUEST_DURATION = "wine_http_request_duration_seconds"
ROWS_PREDICTED = "wine_rows_predicted_total"
CPU_SECONDS = "process_cpu_seconds_total"
RESIDENT_MEMORY = "process_resident_memory_bytes"
START_TIME = "process_start_time_seconds"

#: The tab's key on Locust's page, and the address of its CSV.
TAB = "servers"
CSV_PATH = "/servers/csv"

stats_logger = logging.getLogger("locust.stats_logger")
logger = logging.getLogger(__name__)


def service_url(service: str) -> str:
    """A server's base URL: $<SERVICE>_URL, else the Compose service name on
    port 80 (the rule locustfile.py follows for its requests)."""
    variable = service.upper().replace("-", "_") + "_URL"
    return os.environ.get(variable, f"http://{service}:80").rstrip("/")


def default_servers() -> str:
    """The --servers default: every lab server as name=url, comma-separated."""
    return ",".join(f"{service}={service_url(service)}" for service in SERVICES)


def parse_servers(text: str) -> list[tuple[str, str]]:
    """`name=url,name=url` → [(name, url)]; a bare URL is named by its host."""
    servers = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, url = item.rpartition("=")
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        servers.append((name.strip() or urlsplit(url).hostname or url, url))
    return servers


# ---------------------------------------------------------------------------
# Reading a server: its /metrics text, parsed into what the table needs


class MetricsError(Exception):
    """A server's /metrics could not be read or understood; the message says
    why in a few words, for the row's status."""


@dataclass(frozen=True)
class Reading:
    """What one read of a server's /metrics holds for the table."""

    at: float  # time.monotonic() of the read
    requests: float  # /predict requests answered, any status
    rows: float  # rows classified
    time_sum: float  # seconds spent on /predict requests, summed
    time_count: float  # /predict requests timed
    buckets: tuple[tuple[float, float], ...]  # cumulative (le seconds, count), +Inf last
    cpu: float | None  # CPU seconds the server used
    rss: float | None  # resident memory, bytes
    start_time: float | None  # when the server started, Unix seconds

    def zero(self) -> Reading:
        """The same server as it was when it started: every counter at zero."""
        return replace(
            self,
            requests=0.0,
            rows=0.0,
            time_sum=0.0,
            time_count=0.0,
            buckets=tuple((le, 0.0) for le, _ in self.buckets),
            cpu=None if self.cpu is None else 0.0,
        )


#: Every sample the table needs starts with one of these.
NEEDED = (
    REQUESTS_TOTAL,
    REQUEST_DURATION,
    ROWS_PREDICTED,
    CPU_SECONDS,
    RESIDENT_MEMORY,
    START_TIME,
)

#: `name{labels} value [timestamp]`, and one `key="value"` of the labels.
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str, at: float) -> Reading:
    """Reads the Prometheus text format (0.0.4): the samples the table needs.

    Written here rather than taken from prometheus_client, so that this file
    loads in any Locust (the images', wine-lab's, a user's own), none of which
    ships a Prometheus parser.
    """
    found = {CPU_SECONDS: None, RESIDENT_MEMORY: None, START_TIME: None}
    sums = dict.fromkeys((REQUESTS_TOTAL, ROWS_PREDICTED, "_sum", "_count"), 0.0)
    buckets: dict[float, float] = {}
    route = f'route="{ROUTE}"'
    for number, line in enumerate(text.splitlines(), 1):
        # Most lines are other routes' buckets: skip them unparsed.
        if not line.startswith(NEEDED) or (line.startswith("wine_http") and route not in line):
            continue
        sample = SAMPLE.fullmatch(line.strip()) or SAMPLE.match(line)
        try:
            name, labels, value = sample[1], dict(LABEL.findall(sample[2] or "")), float(sample[3])
        except (TypeError, ValueError):
            raise MetricsError(f"/metrics line {number} is not Prometheus text") from None
        if name in found:
            found[name] = value
        elif name in (ROWS_PREDICTED, REQUESTS_TOTAL):
            sums[name] += value
        elif name in (REQUEST_DURATION + "_sum", REQUEST_DURATION + "_count"):
            sums[name.removeprefix(REQUEST_DURATION)] += value
        elif name == REQUEST_DURATION + "_bucket" and "le" in labels:
            le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + value
    if not buckets:
        raise MetricsError(f"/metrics has no {REQUEST_DURATION} for {ROUTE}")
    return Reading(
        at=at,
        requests=sums[REQUESTS_TOTAL],
        rows=sums[ROWS_PREDICTED],
        time_sum=sums["_sum"],
        time_count=sums["_count"],
        buckets=tuple(sorted(buckets.items())),
        cpu=found[CPU_SECONDS],
        rss=found[RESIDENT_MEMORY],
        start_time=found[START_TIME],
    )


def fetch_metrics(url: str, host: str) -> str:
    """GET `url` (…/metrics) with the Host header `host`: the text, or a
    MetricsError saying why not in a few words."""
    get = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(get, timeout=SCRAPE_TIMEOUT) as answer:
            body = answer.read(MAX_METRICS_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise MetricsError(f"GET /metrics answered {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ConnectionRefusedError):
            raise MetricsError("connection refused") from None
        if isinstance(reason, TimeoutError):
            raise MetricsError(f"no answer within {SCRAPE_TIMEOUT:g} s") from None
        raise MetricsError(str(reason) or type(reason).__name__) from None
    if len(body) > MAX_METRICS_BYTES:
        raise MetricsError(f"/metrics is over {MAX_METRICS_BYTES >> 20} MiB")
    return body.decode("utf-8", "replace")


def addresses(url: str) -> list[str]:
    """The addresses `url`'s host names now: several for a service with
    replicas (DNS round-robin). IPv4 ones if there are any, so that
    "localhost" is one server, not two."""
    host = urlsplit(url).hostname or ""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise MetricsError(f"cannot resolve {host}") from None
    ipv4 = sorted({info[4][0] for info in found if info[0] == socket.AF_INET})
    return ipv4 or sorted({info[4][0] for info in found})


# ---------------------------------------------------------------------------
# The arithmetic: what a server did between two readings


@dataclass(frozen=True)
class Delta:
    """Counters' growth between two readings; deltas add up over a server's restarts."""

    requests: float = 0.0
    rows: float = 0.0
    time_sum: float = 0.0
    time_count: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # growth of each cumulative bucket
    cpu: float | None = 0.0

    @staticmethod
    def between(before: Reading, after: Reading) -> Delta:
        earlier = dict(before.buckets)
        return Delta(
            requests=after.requests - before.requests,
            rows=after.rows - before.rows,
            time_sum=after.time_sum - before.time_sum,
            time_count=after.time_count - before.time_count,
            buckets=tuple((le, count - earlier.get(le, 0.0)) for le, count in after.buckets),
            cpu=None if before.cpu is None or after.cpu is None else after.cpu - before.cpu,
        )

    def __add__(self, other: Delta) -> Delta:
        counts = dict(self.buckets)
        for le, count in other.buckets:
            counts[le] = counts.get(le, 0.0) + count
        return Delta(
            requests=self.requests + other.requests,
            rows=self.rows + other.rows,
            time_sum=self.time_sum + other.time_sum,
            time_count=self.time_count + other.time_count,
            buckets=tuple(sorted(counts.items())),
            cpu=None if self.cpu is None or other.cpu is None else self.cpu + other.cpu,
        )


def histogram_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The q-quantile of cumulative `buckets`, as Prometheus' histogram_quantile
    computes it: linear within the bucket the rank falls in, the first bucket
    starting at 0, a rank in +Inf giving the highest finite bound."""
    if not buckets or buckets[-1][1] <= 0 or not 0 <= q <= 1:
        return None
    rank = q * buckets[-1][1]
    for index, (upper, count) in enumerate(buckets):
        if count >= rank:
            lower, below = buckets[index - 1] if index else (0.0, 0.0)
            if math.isinf(upper):
                return lower
            if count <= below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
    return None


def column(title: str):
    """A field of Figures, shown in a column of that title."""
    return field(metadata={"title": title})


@dataclass(frozen=True)
class Figures:
    """A server's work over a test, per request and per row: one row of the
    table, its fields in the table's order."""

    requests: int = column("Requests")
    rows: int = column("Rows")
    requests_per_s: float = column("Req/s")
    rows_per_s: float = column("Rows/s")
    mean_us: float | None = column("Time/req mean µs")
    p50_us: float | None = column("p50 µs")
    p95_us: float | None = column("p95 µs")
    p99_us: float | None = column("p99 µs")
    cpu_us_per_request: float | None = column("CPU µs/req")
    cpu_us_per_row: float | None = column("CPU µs/row")
    cpu_percent: float | None = column("CPU %")
    rss_mib: float | None = column("RSS MiB")

    @staticmethod
    def of(delta: Delta, seconds: float, rss: float | None) -> Figures:
        """The figures of `delta`, counted over `seconds`, with `rss` bytes resident."""
        seconds = max(seconds, 1e-9)

        def us(q):
            value = histogram_quantile(q, delta.buckets)
            return None if value is None else value * 1e6

        def us_per(total, count):
            return total / count * 1e6 if total is not None and count > 0 else None

        return Figures(
            requests=round(delta.requests),
            rows=round(delta.rows),
            requests_per_s=delta.requests / seconds,
            rows_per_s=delta.rows / seconds,
            mean_us=us_per(delta.time_sum, delta.time_count),
            p50_us=us(0.5),
            p95_us=us(0.95),
            p99_us=us(0.99),
            cpu_us_per_request=us_per(delta.cpu, delta.requests),
            cpu_us_per_row=us_per(delta.cpu, delta.rows),
            cpu_percent=None if delta.cpu is None else 100 * delta.cpu / seconds,
            rss_mib=None if rss is None else rss / (1 << 20),
        )


#: The table's columns, (key, title), in the UI, the CSV and the text alike.
COLUMNS = (
    ("server", "Server"),
    *((figure.name, figure.metadata["title"]) for figure in fields(Figures)),
    ("status", "Status"),
)

# ---------------------------------------------------------------------------
# The servers over a test: one row per server address, since Start or Reset


@dataclass
class Row:
    """One server (one address of a service) since the window began."""

    service: str
    address: str  # "" while the service's name does not resolve
    name: str  # as the table shows it: the service, with the address if it has replicas
    baseline: Reading | None = None  # the window's first reading of this run of the server
    latest: Reading | None = None
    carried: Delta = field(default_factory=Delta)  # counted before the server restarted
    error: str | None = None

    def update(self, reading: Reading, window_start: float) -> None:
        """Takes a new reading; a server that started within the window counts
        from zero, one that restarted keeps what it had counted before."""
        if self.latest is not None and reading.at < self.latest.at:
            return  # a read that took longer than a later one: not news
        latest, self.latest, self.error = self.latest, reading, None
        if self.baseline is None or latest is None:
            started_within = reading.start_time is not None and reading.start_time >= window_start
            self.baseline = reading.zero() if started_within else reading
        elif reading.requests < latest.requests or reading.start_time != latest.start_time:
            self.carried = self.carried + Delta.between(self.baseline, latest)
            self.baseline = reading.zero()

    def figures(self, window_began: float) -> Figures | None:
        """What the server did since the window began; None before a reading."""
        if self.baseline is None or self.latest is None:
            return None
        delta = self.carried + Delta.between(self.baseline, self.latest)
        return Figures.of(delta, self.latest.at - window_began, self.latest.rss)


class Servers:
    """Every server's row over the current window (a test since Start, or
    since Reset Stats), read by `scrape`."""

    def __init__(self, targets: list[tuple[str, str]]) -> None:
        self.begin(targets)

    def begin(self, targets: list[tuple[str, str]]) -> None:
        """A new window: no row counts anything yet."""
        self.targets, self.rows = targets, []
        self.began, self.began_wall = time.monotonic(), time.time()

    def scrape(self) -> None:
        """Reads every server once, side by side, each within its timeouts: a
        name lookup that hangs (a stopped container's, on Docker's DNS) or a
        server that does not answer costs its own row an error, no one else a wait."""
        jobs = {name: gevent.spawn(self._scrape_service, name, url) for name, url in self.targets}
        try:
            gevent.joinall(list(jobs.values()), timeout=3 * SCRAPE_TIMEOUT + 0.5)
        finally:  # also when this round is killed: no read of it may land later
            gevent.killall([job for job in jobs.values() if not job.dead])
        for service, job in jobs.items():
            if not job.successful():
                self._failed(service, f"no answer within {3 * SCRAPE_TIMEOUT:g} s")

    def _failed(self, service: str, error: str) -> None:
        """Every row of `service` (or a new one) says why it has no fresh figures."""
        for row in [row for row in self.rows if row.service == service] or [self._row(service, "")]:
            row.error = error

    def _scrape_service(self, service: str, url: str) -> None:
        known = [row for row in self.rows if row.service == service]
        host = urlsplit(url).hostname
        try:
            with gevent.Timeout(
                SCRAPE_TIMEOUT, MetricsError(f"cannot resolve {host} within {SCRAPE_TIMEOUT:g} s")
            ):
                found = addresses(url)
        except MetricsError as error:
            self._failed(service, str(error))
            return
        for row in known:
            if row.address and row.address not in found:
                row.error = f"gone: {service} no longer resolves to {row.address}"
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        jobs = []
        for row in [self._row(service, address) for address in found]:
            host = f"[{row.address}]" if ":" in row.address else row.address
            metrics = f"{parts.scheme}://{host}:{port}/metrics"
            jobs.append(gevent.spawn(self._scrape_one, row, metrics, parts.netloc))
        try:
            gevent.joinall(jobs)
        finally:
            gevent.killall([job for job in jobs if not job.dead])

    def _row(self, service: str, address: str) -> Row:
        """The row of `service` at `address`, made on first sight (a row made
        while the name did not resolve takes the first address found)."""
        same = [row for row in self.rows if row.service == service]
        row = next((row for row in same if row.address == address), None)
        if row is None:
            row = next((row for row in same if not row.address), None) or Row(service, "", "")
            row.address = address
            if row not in same:
                self.rows.append(row)
                same.append(row)
        for other in same:
            several = len(same) > 1 and other.address
            other.name = f"{service} ({other.address})" if several else service
        return row

    def _scrape_one(self, row: Row, url: str, host: str) -> None:
        overall = 2 * SCRAPE_TIMEOUT
        try:
            with gevent.Timeout(overall, MetricsError(f"no answer within {overall:g} s")):
                text = fetch_metrics(url, host)
            row.update(parse_metrics(text, time.monotonic()), self.began_wall)
        except MetricsError as error:
            row.error = str(error)

    def table(self) -> list[tuple[Row, Figures | None]]:
        """The rows in the order of the servers given, replicas by address."""
        order = {name: index for index, (name, _) in enumerate(self.targets)}
        rows = sorted(self.rows, key=lambda row: (order.get(row.service, len(order)), row.address))
        return [(row, row.figures(self.began)) for row in rows]


# ---------------------------------------------------------------------------
# Presentation: the table's cells, the sentences under it, CSV and text


def number(value: float | None) -> str:
    """Three significant figures, whole numbers from 100 up; "–" for none."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def status(row: Row, figures: Figures | None) -> str:
    """ "ok", or why the row has no fresh figures."""
    return row.error or ("ok" if figures is not None else "no reading yet")


def cells(row: Row, figures: Figures | None) -> dict[str, str]:
    """One server's row as the tab and the text table show it."""
    shown = {"server": row.name}
    for figure in fields(Figures):
        value = None if figures is None else getattr(figures, figure.name)
        shown[figure.name] = f"{value:,}" if isinstance(value, int) else number(value)
    shown["status"] = status(row, figures)
    return shown


def csv_text(table: list[tuple[Row, Figures | None]]) -> str:
    """The table as CSV: plain numbers (µs, per second, MiB), empty for none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key for key, _ in COLUMNS])
    for row, figures in table:
        values = [None if figures is None else getattr(figures, f.name) for f in fields(Figures)]
        plain = ["" if value is None else round(value, 4) for value in values]
        writer.writerow([row.name, *plain, status(row, figures)])
    return out.getvalue()


def text_table(table: list[tuple[Row, Figures | None]], notes: list[str]) -> list[str]:
    """The table as text lines, for the end of a run."""
    lines = [[title for _, title in COLUMNS]]
    lines += [list(cells(row, figures).values()) for row, figures in table]
    widths = [max(map(len, cells_of)) for cells_of in zip(*lines, strict=True)]
    left = (0, len(COLUMNS) - 1)  # the names and the status; numbers align right

    def line(values):
        aligned = (
            value.ljust(width) if index in left else value.rjust(width)
            for index, (value, width) in enumerate(zip(values, widths, strict=True))
        )
        return "  ".join(aligned).rstrip()

    return ["The servers' own figures (from their /metrics):", *map(line, lines), *notes]


def resolution(buckets: tuple[tuple[float, float], ...]) -> str | None:
    """The histogram's resolution, said once under the table."""
    bounds = [le for le, _ in buckets if 0 < le < math.inf]
    if len(bounds) < 2:
        return None
    factor = bounds[1] / bounds[0]
    return (
        f"Mean time and CPU are exact; p50/p95/p99 are interpolated within the servers' "
        f"histogram buckets, {factor:.3g}× apart from {bounds[0] * 1e6:g} µs "
        f"(each within ±{100 * (factor - 1) / 2:.0f}%)."
    )


@dataclass(frozen=True)
class LocustSide:
    """Locust's own view, for the sentence: its median, and the CPU use of each
    process that sends requests (the one process, or each worker)."""

    median_ms: float
    cpu_percent: tuple[float, ...]
    workers: bool


def lesson(table: list[tuple[Row, Figures | None]], locust: LocustSide | None) -> str | None:
    """One plain sentence computed from the numbers: what batching costs per
    request and saves per row, and why Locust's own columns cannot show it."""
    measured = [(row, fig) for row, fig in table if fig and fig.requests > 0 and fig.rows > 0]
    if not measured:
        return None
    parts = (_batching(measured), _waiting(measured, locust))
    return " ".join(part for part in parts if part) or None


def _batching(measured: list[tuple[Row, Figures]]) -> str | None:
    """E.g. "batch-64: 1.4× batch-1's CPU per request, 1/45 of its CPU per row":
    the server with the most rows per request against the one with the fewest
    (batch-1 among equals: the same program as the batches)."""

    def rows_per_request(item):
        return item[1].rows / item[1].requests

    big = max(measured, key=rows_per_request)
    small = min(measured, key=lambda item: (rows_per_request(item), item[0].service != "batch-1"))
    if rows_per_request(big) <= rows_per_request(small):
        return None
    if big[1].cpu_us_per_request and small[1].cpu_us_per_request:
        what, per_request = "CPU", big[1].cpu_us_per_request / small[1].cpu_us_per_request
    elif big[1].mean_us and small[1].mean_us:
        what, per_request = "time", big[1].mean_us / small[1].mean_us
    else:
        return None
    per_row = per_request * rows_per_request(small) / rows_per_request(big)
    share = f"1/{1 / per_row:.0f} of" if per_row < 1 else f"{per_row:.1f}×"
    return (
        f"{big[0].name}: {per_request:.1f}× {small[0].name}'s {what} per request, "
        f"{share} its {what} per row."
    )


def _waiting(measured: list[tuple[Row, Figures]], locust: LocustSide | None) -> str | None:
    """Why Locust's latency columns are alike: where its requests wait."""
    if locust is None or not locust.median_ms:
        return None
    server_us = max(figures.mean_us or 0.0 for _, figures in measured)
    who = "its workers' CPU" if locust.workers else "its CPU"
    cpu = ", ".join(f"{value:.0f}%" for value in locust.cpu_percent) or "not measured"
    if locust.median_ms * 1000 < 10 * server_us:
        return (
            f"Locust's own median, {locust.median_ms:g} ms, is near the servers' own time "
            f"({who}: {cpu})."
        )
    return (
        f"Locust's own columns say {locust.median_ms:g} ms (median) because requests wait in "
        f"Locust, not in the servers, whose own time is under {number(server_us)} µs "
        f"({who}: {cpu})."
    )


# ---------------------------------------------------------------------------
# Wiring into Locust


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    parser.add_argument(
        "--servers",
        default=default_servers(),
        help="Servers whose /metrics the Servers tab reads, as name=url,… "
        "(default: the lab's four, from $<SERVICE>_URL or http://<service>:80)",
    )


@events.init.add_listener
def _init(environment, runner=None, web_ui=None, **_kwargs):
    interrupt_the_main_greenlet()
    stop = StopBeforeTheServers(environment)
    if not isinstance(runner, WorkerRunner):  # workers: the master reads the servers
        ServersView(environment, web_ui, stop)


# ---------------------------------------------------------------------------
# Stopping: Locust before the servers, and always on its stop signal
#
# The stack's images stop Locust with SIGINT (Locust writes its --html report
# only then, deploy/images.json). Python raises the KeyboardInterrupt in
# whichever greenlet runs when the signal lands, and Locust 2.47's stats,
# history and CSV-writer greenlets catch it and end quietly (stats.py,
# stats_printer/stats_history/StatsCSV.stats_writer): then nobody stops, and
# Docker kills Locust 10 s later with its report unwritten. Rare (the signal
# must land while one of those runs; tests/extension reproduces it), so this is
# a guard: raised in the main greenlet, it always reaches Locust's own handler
# in main.py, which writes every report and quits.
#
# Compose stops the servers before Locust (each server `links` to it), so the
# users would fail every request between the two, or hang on a server already
# gone (looking up a stopped container's name takes 10 s on an internal
# network), and Locust then took 5.7 s to stop: past Docker's 10 s on a busy
# machine, with its report lost. A stopping server says so in each answer
# (STOPPING_HEADER, src/server/stopping.rs) and serves on until requests stop
# (3 s at most); once every server has said so, Locust stops the test.

#: The answer header of a server that got its stop signal.
STOPPING_HEADER = "wine-server-stopping"

#: The message a worker sends its master when a server says it is stopping.
STOP_MESSAGE = "wine_lab_servers_stopping"


def interrupt_the_main_greenlet():
    """SIGINT raises KeyboardInterrupt in Locust's main greenlet, never in
    another one that would swallow it. Returns gevent's handler (its cancel()
    gives SIGINT back), or None when not called from the main greenlet."""
    main = greenlet.getcurrent()
    if main.parent is not None:  # not loaded by Locust's main(): leave SIGINT alone
        return None
    return gevent.signal_handler(signal.SIGINT, main.throw, KeyboardInterrupt)


class StopBeforeTheServers:
    """Stops the test once every server it loads has answered that it is
    stopping (the stack is going down), so that the stop counts no failure.
    One server stopped alone (`docker stop no-batch`) does not stop the test:
    its row on the Servers tab then shows it gone, and the others go on."""

    def __init__(self, environment) -> None:
        self.environment = environment
        #: The servers (host, port) that said they are stopping, this test.
        self.stopping: set[tuple[str, int]] = set()
        #: Whether this process stopped the test for them.
        self.stopped_the_test = False
        environment.events.request.add_listener(self._request)
        environment.events.test_start.add_listener(self._test_start)
        runner = environment.runner
        if runner is not None and not isinstance(runner, WorkerRunner):
            runner.register_message(STOP_MESSAGE, self._from_worker)

    def _test_start(self, **_kwargs) -> None:
        self.stopping.clear()
        self.stopped_the_test = False

    def _request(self, response=None, url=None, **_kwargs) -> None:
        headers = getattr(response, "headers", None)
        if not headers or not headers.get(STOPPING_HEADER):
            return
        server = server_of(url or "")  # the request's URL (a response's .url is its name)
        if server is None or server in self.stopping:
            return
        self.stopping.add(server)
        if isinstance(self.environment.runner, WorkerRunner):
            self.environment.runner.send_message(STOP_MESSAGE, list(server))
        else:
            self._stop_if_all_are_stopping()

    def _from_worker(self, msg, **_kwargs) -> None:
        host, port = msg.data
        self.stopping.add((str(host), int(port)))
        self._stop_if_all_are_stopping()

    def _stop_if_all_are_stopping(self) -> None:
        options = self.environment.parsed_options
        targets = parse_servers(getattr(options, "servers", None) or default_servers())
        servers = {server_of(url) for _, url in targets}
        runner = self.environment.runner
        if (
            self.stopped_the_test
            or not servers <= self.stopping
            or runner.state not in ("spawning", "running")
        ):
            return
        self.stopped_the_test = True
        logger.warning(
            "every server is stopping (the stack is going down): stopping the test, "
            "so the stop fails no request"
        )
        gevent.spawn(runner.stop)  # not from a user's greenlet, which stop() kills


def server_of(url: str) -> tuple[str, int] | None:
    """A URL's server as (host, port), the port filled in from the scheme."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname else None


class ServersView:
    """The servers' table over Locust's tests: read while one runs, shown on
    the page and in its CSV, and printed and written at the end."""

    def __init__(self, environment, web_ui, stop: StopBeforeTheServers) -> None:
        self.environment = environment
        self.stop = stop
        self.servers = Servers(self._targets())
        self.loop: gevent.Greenlet | None = None
        self.process = psutil.Process()
        self.locust_cpu: tuple[float, ...] = ()  # as last seen while a test ran
        environment.events.test_start.add_listener(self._test_start)
        environment.events.test_stop.add_listener(self._test_stop)
        environment.events.reset_stats.add_listener(self._reset_stats)
        environment.events.quit.add_listener(self._quit)
        if web_ui is not None:
            self._extend(web_ui)

    def _targets(self) -> list[tuple[str, str]]:
        options = self.environment.parsed_options
        return parse_servers(getattr(options, "servers", None) or default_servers())

    def _test_start(self, **_kwargs) -> None:
        # Read before the first user starts, so that the window counts every request.
        self.servers.begin(self._targets())
        self.servers.scrape()
        self.locust_cpu = self._locust_cpu()  # from now on
        if self.loop is None:
            self.loop = gevent.spawn(self._read_while_running)

    def _read_while_running(self) -> None:
        while True:
            gevent.sleep(SCRAPE_EVERY)
            self.servers.scrape()
            self.locust_cpu = self._locust_cpu()

    def _test_stop(self, **_kwargs) -> None:
        if self.loop is not None:
            self.loop.kill(block=True)
            self.loop = None
        self.servers.scrape()  # the last users have stopped: the final figures

    def _reset_stats(self, **_kwargs) -> None:
        self.servers.begin(self.servers.targets)
        if self.loop is not None:
            gevent.spawn(self.servers.scrape)

    def _locust_cpu(self) -> tuple[float, ...]:
        """CPU use of each process sending requests: the workers' as they
        report it to the master (Locust samples every 10 s), or this process's
        since the last call (psutil, which Locust itself uses)."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            return tuple(worker.cpu_usage for worker in runner.clients.values())
        return (self.process.cpu_percent(),)

    def notes(self, table: list[tuple[Row, Figures | None]]) -> list[str]:
        """The sentences under the table: the lesson, and the histogram's resolution."""
        runner = self.environment.runner
        locust = runner and LocustSide(
            runner.stats.total.median_response_time,
            self.locust_cpu,
            isinstance(runner, MasterRunner),
        )
        buckets = next((row.latest.buckets for row, _ in table if row.latest), ())
        return [note for note in (lesson(table, locust), resolution(buckets)) if note]

    def _quit(self, **_kwargs) -> None:
        if (
            isinstance(self.environment.runner, MasterRunner)
            and self.servers.rows
            and not self.stop.stopped_the_test  # the servers are gone by now
        ):
            # Quitting, a master fires test_stop before its workers have
            # stopped (Locust 2.47, runners.py MasterRunner.quit): read again.
            self.servers.scrape()
        table = self.servers.table()
        if not table:
            return
        options = self.environment.parsed_options
        if prefix := getattr(options, "csv_prefix", None):
            try:
                with open(f"{prefix}_servers.csv", "w", encoding="utf-8", newline="") as file:
                    file.write(csv_text(table))
            except OSError as error:
                logger.error("cannot write %s_servers.csv: %s", prefix, error)
        if not getattr(options, "json", False):  # --json: stdout is Locust's JSON only
            for line in [*text_table(table, self.notes(table)), ""]:
                stats_logger.info(line)

    def _extend(self, web_ui) -> None:
        """The Servers tab, its CSV, and its rows in every /stats/requests answer."""
        web_ui.template_args["extended_tabs"] = [{"title": "Servers", "key": TAB}]
        web_ui.template_args["extended_tables"] = [
            {"key": TAB, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
        ]
        web_ui.template_args["extended_csv_files"] = [
            {"href": f".{CSV_PATH}", "title": "Download the servers' own figures (CSV)"}
        ]
        base = getattr(self.environment.parsed_options, "web_base_path", "") or ""
        blueprint = Blueprint("wine_lab_servers", __name__, url_prefix=base or None)

        @blueprint.route(CSV_PATH)
        def servers_csv():
            answer = make_response(csv_text(self.servers.table()))
            answer.headers["Content-Type"] = "text/csv"
            answer.headers["Content-Disposition"] = "attachment;filename=servers.csv"
            return answer

        web_ui.app.register_blueprint(blueprint)

        @web_ui.app.after_request
        def add_servers(answer):
            if request.path != f"{base}/stats/requests" or answer.status_code != 200:
                return answer
            data = answer.get_json(silent=True)
            if isinstance(data, dict):
                table = self.servers.table()
                rows = [cells(row, figures) for row, figures in table]
                rows += [{"server": note} for note in self.notes(table)]  # under the table
                data["extended_stats"] = [{"key": TAB, "data": rows}]
                answer.set_data(web_ui.app.json.dumps(data))
            return answer
