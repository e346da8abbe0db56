"""Unit tests of locust_servers.py, the Locust extension behind the Servers tab:
its reading of /metrics, its arithmetic over a test (deltas, quantiles, restarts,
replicas) and what it shows (cells, CSV, text, the sentence).

Run by tests/extension.rs (`python3 -m unittest` with the repository root on
sys.path); they need Locust installed, as the extension imports it.
"""

import math
import os
import signal
import time
import unittest

import gevent

import locust_servers as ext

PREDICT = 'route="/predict"'


def metrics(
    requests=0, rows=0, seconds=0.0, buckets=(), cpu=None, rss=None, start=1000.0, extra=""
):
    """A /metrics answer like the servers', with /predict's figures given and
    another route's that must be ignored."""
    lines = [
        "# HELP wine_http_requests_total Requests answered, by route and status.",
        "# TYPE wine_http_requests_total counter",
        f'wine_http_requests_total{{{PREDICT},status="200"}} {requests}',
        'wine_http_requests_total{route="/",status="200"} 99',
    ]
    total = 0
    for le, count in buckets:
        total = count
        lines.append(f'wine_http_request_duration_seconds_bucket{{{PREDICT},le="{le}"}} {count}')
    lines.append(f'wine_http_request_duration_seconds_bucket{{{PREDICT},le="+Inf"}} {total}')
    lines.append(f"wine_http_request_duration_seconds_sum{{{PREDICT}}} {seconds}")
    lines.append(f"wine_http_request_duration_seconds_count{{{PREDICT}}} {total}")
    lines.append('wine_http_request_duration_seconds_bucket{route="/",le="+Inf"} 99')
    lines.append('wine_http_request_duration_seconds_sum{route="/"} 5')
    lines.append(f"wine_rows_predicted_total {rows}")
    lines.append(f"process_start_time_seconds {start}")
    if cpu is not None:
        lines.append(f"process_cpu_seconds_total {cpu}")
    if rss is not None:
        lines.append(f"process_resident_memory_bytes {rss}")
    return "\n".join(lines) + "\n" + extra


def reading(at=0.0, **kwargs):
    return ext.parse_metrics(metrics(**kwargs), at)


def served(requests, at, cpu, start):
    """A reading of a server that answered `requests` one-row requests, each
    under 10 µs, by time `at`, having used `cpu` seconds since `start`."""
    return reading(
        at=at, requests=requests, rows=requests, buckets=[(1e-5, requests)], cpu=cpu, start=start
    )


class Parsing(unittest.TestCase):
    def test_reads_the_predict_route_only(self):
        got = reading(
            at=5.0, requests=10, rows=640, seconds=0.002, buckets=[(1e-5, 4), (1e-4, 10)],
            cpu=0.25, rss=5 << 20, start=1234.5,
        )  # fmt: skip
        self.assertEqual(
            (got.requests, got.rows, got.time_sum, got.time_count), (10, 640, 0.002, 10)
        )
        self.assertEqual(got.buckets, ((1e-5, 4), (1e-4, 10), (math.inf, 10)))
        self.assertEqual((got.cpu, got.rss, got.start_time, got.at), (0.25, 5 << 20, 1234.5, 5.0))

    def test_statuses_add_up_and_missing_process_figures_are_none(self):
        extra = f'wine_http_requests_total{{{PREDICT},status="422"}} 3\n'
        got = reading(requests=10, buckets=[(1e-5, 13)], extra=extra)
        self.assertEqual(got.requests, 13)
        self.assertIsNone(got.cpu)
        self.assertIsNone(got.rss)

    def test_escaped_labels_and_timestamps(self):
        extra = 'wine_rows_predicted_total{x="a\\"b}c"} 5 1700000000000\n'
        got = reading(rows=1, buckets=[(1e-5, 1)], extra=extra)
        self.assertEqual(got.rows, 6)

    def test_not_the_servers_metrics_is_an_error_naming_the_line(self):
        with self.assertRaisesRegex(ext.MetricsError, "no wine_http_request_duration_seconds"):
            ext.parse_metrics("up 1\n", 0)
        with self.assertRaisesRegex(ext.MetricsError, "line 2 "):
            ext.parse_metrics("# fine\nwine_rows_predicted_total twelve\n", 0)

    def test_servers_option(self):
        self.assertEqual(
            ext.parse_servers(" a=http://h:1/ , b=h2:80,http://c:9"),
            [("a", "http://h:1"), ("b", "http://h2:80"), ("c", "http://c:9")],
        )


class Arithmetic(unittest.TestCase):
    def test_quantiles_like_prometheus(self):
        buckets = ((1.0, 10.0), (2.0, 20.0), (math.inf, 20.0))
        self.assertEqual(ext.histogram_quantile(0.5, buckets), 1.0)
        self.assertEqual(ext.histogram_quantile(0.25, buckets), 0.5)
        self.assertEqual(ext.histogram_quantile(0.75, buckets), 1.5)
        self.assertEqual(ext.histogram_quantile(0.9, ((1.0, 1.0), (math.inf, 10.0))), 1.0)
        self.assertIsNone(ext.histogram_quantile(0.5, ((1.0, 0.0),)))
        self.assertIsNone(ext.histogram_quantile(1.5, buckets))

    def test_figures_between_two_readings(self):
        before = reading(at=10, requests=100, rows=6400, seconds=0.001,
                         buckets=[(1e-5, 100), (2e-5, 100)], cpu=1.0, rss=4 << 20)  # fmt: skip
        after = reading(at=12, requests=300, rows=19200, seconds=0.005,
                        buckets=[(1e-5, 100), (2e-5, 300)], cpu=1.004, rss=6 << 20)  # fmt: skip
        figures = ext.Figures.of(ext.Delta.between(before, after), 2.0, after.rss)
        self.assertEqual((figures.requests, figures.rows), (200, 12800))
        self.assertAlmostEqual(figures.requests_per_s, 100)
        self.assertAlmostEqual(figures.mean_us, 20.0)  # 4 ms over 200 requests, exact
        self.assertAlmostEqual(figures.p50_us, 15.0)  # the middle of (10, 20] µs
        self.assertAlmostEqual(figures.cpu_us_per_request, 20.0)
        self.assertAlmostEqual(figures.cpu_us_per_row, 20.0 / 64)
        self.assertAlmostEqual(figures.cpu_percent, 0.2)
        self.assertAlmostEqual(figures.rss_mib, 6.0)

    def test_without_cpu_the_cpu_figures_are_none(self):
        after = reading(requests=2, rows=2, buckets=[(1e-5, 2)])
        figures = ext.Figures.of(ext.Delta.between(reading(buckets=[(1e-5, 0)]), after), 1.0, None)
        self.assertIsNone(figures.cpu_us_per_row)
        self.assertIsNone(figures.cpu_percent)


class Rows(unittest.TestCase):
    def test_a_server_started_before_the_window_counts_from_its_first_reading(self):
        row = ext.Row("batch-1", "10.0.0.2", "batch-1")
        row.update(served(50, at=1, cpu=1.0, start=10), 100)
        row.update(served(80, at=3, cpu=1.1, start=10), 100)
        figures = row.figures(window_began=1)
        self.assertEqual(figures.requests, 30)
        self.assertAlmostEqual(figures.requests_per_s, 15)

    def test_a_server_started_within_the_window_counts_from_zero(self):
        row = ext.Row("batch-1", "10.0.0.2", "batch-1")
        row.update(served(7, at=5, cpu=0.1, start=150), 100)
        self.assertEqual(row.figures(window_began=1).requests, 7)

    def test_a_restart_keeps_what_was_counted_before(self):
        row = ext.Row("no-batch", "10.0.0.3", "no-batch")
        row.update(served(10, at=1, cpu=1.0, start=10), 100)
        row.update(served(40, at=2, cpu=1.3, start=10), 100)
        # Killed and started again: its counters begin anew.
        row.update(served(5, at=3, cpu=0.05, start=200), 100)
        row.update(served(15, at=4, cpu=0.15, start=200), 100)
        figures = row.figures(window_began=1)
        self.assertEqual(figures.requests, 30 + 15)
        self.assertAlmostEqual(figures.cpu_us_per_request, (0.3 + 0.15) / 45 * 1e6)


class FakeServers(ext.Servers):
    """Servers whose names and /metrics come from dictionaries, not the network."""

    def __init__(self, targets, dns, answers):
        super().__init__(targets)
        self.dns, self.answers = dns, answers
        ext.addresses = lambda url: self._resolve(url)
        ext.fetch_metrics = lambda url, host: self._fetch(url)

    def _resolve(self, url):
        found = self.dns.get(ext.urlsplit(url).hostname)
        if found == "hang":  # as Docker's DNS for a stopped container's name
            ext.gevent.sleep(10 * ext.SCRAPE_TIMEOUT)
        if found is None:
            raise ext.MetricsError("cannot resolve it")
        return found

    def _fetch(self, url):
        answer = self.answers.get(ext.urlsplit(url).hostname)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Scraping(unittest.TestCase):
    def setUp(self):
        self.saved = (ext.addresses, ext.fetch_metrics)

    def tearDown(self):
        ext.addresses, ext.fetch_metrics = self.saved

    def test_one_row_per_replica_and_an_error_row_for_the_unreachable(self):
        servers = FakeServers(
            [("no-batch", "http://no-batch:80"), ("batch-1", "http://batch-1:80")],
            dns={"batch-1": ["10.0.0.5", "10.0.0.4"]},
            answers={
                "10.0.0.4": metrics(requests=1, rows=1, buckets=[(1e-5, 1)]),
                "10.0.0.5": ext.MetricsError("connection refused"),
            },
        )
        servers.scrape()
        table = [(row.name, row.error) for row, _ in servers.table()]
        self.assertEqual(
            table,
            [
                ("no-batch", "cannot resolve it"),
                ("batch-1 (10.0.0.4)", None),
                ("batch-1 (10.0.0.5)", "connection refused"),
            ],
        )
        # Resolved now: the error row becomes the server's row.
        servers.dns["no-batch"] = ["10.0.0.9"]
        servers.answers["10.0.0.9"] = metrics(requests=2, rows=2, buckets=[(1e-5, 2)])
        servers.scrape()
        names = [row.name for row, _ in servers.table()]
        self.assertEqual(names[0], "no-batch")
        self.assertEqual(len(names), 3)
        # A replica gone from the name keeps its row, saying so.
        servers.dns["batch-1"] = ["10.0.0.4"]
        servers.scrape()
        errors = {row.name: row.error for row, _ in servers.table()}
        self.assertIn("no longer resolves", errors["batch-1 (10.0.0.5)"])

    def test_a_name_lookup_that_hangs_is_that_rows_error_and_delays_no_other(self):
        servers = FakeServers(
            [("no-batch", "http://no-batch:80"), ("batch-1", "http://batch-1:80")],
            dns={"no-batch": ["10.0.0.9"], "batch-1": ["10.0.0.4"]},
            answers={
                "10.0.0.9": metrics(requests=1, rows=1, buckets=[(1e-5, 1)]),
                "10.0.0.4": metrics(requests=1, rows=1, buckets=[(1e-5, 1)]),
            },
        )
        servers.scrape()
        servers.dns["no-batch"] = "hang"
        servers.answers["10.0.0.4"] = metrics(requests=9, rows=9, buckets=[(1e-5, 9)])
        started = ext.time.monotonic()
        servers.scrape()
        self.assertLess(ext.time.monotonic() - started, 3 * ext.SCRAPE_TIMEOUT)
        rows = {row.name: (row.error, figures) for row, figures in servers.table()}
        self.assertIn("cannot resolve no-batch within", rows["no-batch"][0])
        self.assertEqual(rows["no-batch"][1].requests, 0, "its last figures stay")
        self.assertEqual((rows["batch-1"][0], rows["batch-1"][1].requests), (None, 8))


def measured_row(service, requests, rows, cpu_seconds, seconds=0.001):
    row = ext.Row(service, "", service)
    row.baseline = reading(buckets=[(1e-5, 0)], cpu=0.0)
    row.latest = reading(
        at=10, requests=requests, rows=rows, seconds=seconds, buckets=[(1e-5, requests)],
        cpu=cpu_seconds, rss=5 << 20,
    )  # fmt: skip
    return row, row.figures(0)


class Showing(unittest.TestCase):
    def table(self):
        return [
            measured_row("no-batch", 1000, 1000, 0.028),
            measured_row("batch-1", 1000, 1000, 0.030),
            measured_row("batch-32", 1000, 32000, 0.036),
            measured_row("batch-64", 1000, 64000, 0.042),
        ]

    def test_the_sentence_compares_per_request_and_per_row(self):
        locust = ext.LocustSide(median_ms=17, cpu_percent=(100.0,), workers=False)
        sentence = ext.lesson(self.table(), locust)
        self.assertTrue(
            sentence.startswith(
                "batch-64: 1.4× batch-1's CPU per request, 1/46 of its CPU per row."
            ),
            sentence,
        )
        self.assertIn(
            "Locust's own columns say 17 ms (median) because requests wait in Locust", sentence
        )
        self.assertIn("(its CPU: 100%)", sentence)
        workers = ext.LocustSide(median_ms=17, cpu_percent=(97.0, 95.0), workers=True)
        self.assertIn("(its workers' CPU: 97%, 95%)", ext.lesson(self.table(), workers))
        self.assertIsNone(ext.lesson([], locust))

    def test_cells_csv_and_text(self):
        row, figures = self.table()[3]
        cells = ext.cells(row, figures)
        self.assertEqual(list(cells), [key for key, _ in ext.COLUMNS])
        self.assertEqual((cells["requests"], cells["rows"]), ("1,000", "64,000"))
        self.assertEqual((cells["cpu_us_per_request"], cells["cpu_us_per_row"]), ("42", "0.656"))
        self.assertEqual(cells["status"], "ok")
        waiting = ext.cells(ext.Row("no-batch", "", "no-batch"), None)
        self.assertEqual((waiting["requests"], waiting["status"]), ("–", "no reading yet"))
        csv_lines = ext.csv_text(self.table()).splitlines()
        self.assertEqual(csv_lines[0].split(","), [key for key, _ in ext.COLUMNS])
        self.assertTrue(csv_lines[4].startswith("batch-64,1000,64000,"), csv_lines[4])
        text = ext.text_table(self.table(), ["a note"])
        status_at = text[1].index("Status")
        self.assertTrue(all(line.index(" ok") + 1 == status_at for line in text[2:6]), text)
        self.assertEqual(text[-1], "a note")

    def test_the_resolution_is_said_from_the_buckets(self):
        buckets = tuple((1e-6 * 1.25**k, 0.0) for k in range(64)) + ((math.inf, 0.0),)
        self.assertIn("1.25× apart from 1 µs (each within ±12%)", ext.resolution(buckets))


if __name__ == "__main__":
    unittest.main()


class Stopping(unittest.TestCase):
    """How the extension makes Locust stop: on SIGINT, and before the servers."""

    def test_sigint_reaches_the_main_greenlet_not_one_that_swallows_it(self):
        swallowed = []

        def like_locusts_stats_writer():  # stats.py: `except KeyboardInterrupt: logger.debug`
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(50):
                    time.sleep(0.001)  # bytecode boundaries, where Python raises it
            except KeyboardInterrupt:
                swallowed.append("the stats greenlet")

        handler = ext.interrupt_the_main_greenlet()
        self.assertIsNotNone(handler, "unittest runs in the main greenlet")
        try:
            gevent.spawn(like_locusts_stats_writer).join()
            gevent.sleep(1)
            reached = False
        except KeyboardInterrupt:
            reached = True
        finally:
            handler.cancel()
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self.assertEqual((reached, swallowed), (True, []))


class FakeEvent:
    def __init__(self):
        self.listeners = []

    def add_listener(self, listener):
        self.listeners.append(listener)


class FakeRunner:
    """A local runner in the middle of a test, counting its stops."""

    def __init__(self):
        self.state = "running"
        self.stops = 0

    def register_message(self, *_args):
        pass

    def stop(self):
        self.stops += 1
        self.state = "stopped"


class FakeEnvironment:
    def __init__(self, servers):
        self.parsed_options = type("Options", (), {"servers": servers})()
        self.runner = FakeRunner()
        self.events = type("Events", (), {"request": FakeEvent(), "test_start": FakeEvent()})()


class FakeResponse:
    """As Locust's request event gets it: its url is the request's name."""

    def __init__(self, stopping):
        self.url = "the request's name"
        self.headers = {ext.STOPPING_HEADER: "1"} if stopping else {}


class StoppingWithTheStack(unittest.TestCase):
    """The test stops once every server says it is stopping, not before."""

    def answer(self, environment, url, stopping=True):
        for listener in environment.events.request.listeners:
            listener(response=FakeResponse(stopping), name="x", url=url)
        gevent.sleep(0)  # let a spawned stop run

    def test_one_server_stopping_alone_does_not_stop_the_test(self):
        environment = FakeEnvironment("a=http://a:80,b=http://b")
        ext.StopBeforeTheServers(environment)
        self.answer(environment, "http://a:80/predict")
        self.answer(environment, "http://a/predict")
        self.answer(environment, "http://b:80/predict", stopping=False)
        self.assertEqual(environment.runner.stops, 0)

    def test_every_server_stopping_stops_the_test_once(self):
        environment = FakeEnvironment("a=http://a:80,b=http://b")
        ext.StopBeforeTheServers(environment)
        self.answer(environment, "http://a:80/predict")
        self.answer(environment, "http://b/predict")
        self.answer(environment, "http://b:80/")
        self.assertEqual(environment.runner.stops, 1)

    def test_a_url_names_its_server_with_the_port_of_its_scheme(self):
        self.assertEqual(ext.server_of("http://batch-1/predict"), ("batch-1", 80))
        self.assertEqual(ext.server_of("https://x:8443/"), ("x", 8443))
        self.assertEqual(ext.server_of("127.0.0.1:9000"), ("127.0.0.1", 9000))
        self.assertIsNone(ext.server_of("http://x:notaport/"))
