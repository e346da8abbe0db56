"""wrk's output, as recorded, read by harness.wrk; and the Lua script it is given.

The recorded outputs are wrk 4.1 runs with the harness's Lua script against
wine-server's with-batch API: batch-64 bodies (wrk-batch-64.txt), the same to a path
that answers 404 (wrk-status-errors.txt), and plain wrk with no script
(wrk-no-hook.txt). The exact figures of the BENCHJSON line must agree with wrk's own
rounded summary above it.
"""

from __future__ import annotations

import re
import tempfile
import unittest
from pathlib import Path

from harness import BenchError, wrk

DATA = Path(__file__).resolve().parent / "data"
UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def summary(text: str) -> dict:
    """wrk's own human-readable figures: requests, seconds, req/s, percentiles (µs)."""
    done = re.search(r"(\d+) requests in ([\d.]+)s", text)
    percentiles = {
        p: float(v) * UNITS_US[unit]
        for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)$", text, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests": int(done.group(1)),
        "seconds": float(done.group(2)),
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "percentiles_us": percentiles,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


class ParseOutput(unittest.TestCase):
    def test_reads_the_exact_figures(self) -> None:
        stats = wrk.parse_output(recorded("wrk-batch-64.txt"))
        self.assertEqual(stats["requests"], 20551)
        self.assertEqual(stats["duration_us"], 1105033)
        self.assertEqual(stats["errors"],
                         {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0})
        self.assertEqual(stats["latency_us"]["p50"], 459)
        self.assertEqual(stats["latency_us"]["p99"], 8212)
        self.assertEqual(stats["latency_us"]["p999"], 16896)
        self.assertAlmostEqual(stats["latency_us"]["mean"], 878.972)

    def test_agrees_with_wrks_own_summary(self) -> None:
        for name in ("wrk-batch-64.txt", "wrk-status-errors.txt"):
            with self.subTest(name):
                text = recorded(name)
                stats, shown = wrk.parse_output(text), summary(text)
                self.assertEqual(stats["requests"], shown["requests"])
                self.assertAlmostEqual(stats["duration_us"] / 1e6, shown["seconds"], places=2)
                rate = stats["requests"] / (stats["duration_us"] / 1e6)
                self.assertAlmostEqual(rate, shown["req_per_s"], places=1)
                for p in ("50", "90", "99"):
                    exact, rounded = stats["latency_us"][f"p{p}"], shown["percentiles_us"][p]
                    self.assertLessEqual(abs(exact - rounded), 0.005 * rounded + 1, p)
                self.assertEqual(stats["errors"]["status"], shown["non_2xx"])

    def test_counts_status_errors(self) -> None:
        stats = wrk.parse_output(recorded("wrk-status-errors.txt"))
        self.assertEqual(stats["errors"]["status"], stats["requests"])

    def test_refuses_output_without_the_hook(self) -> None:
        with self.assertRaisesRegex(BenchError, "no BENCHJSON line"):
            wrk.parse_output(recorded("wrk-no-hook.txt"), "")


class LuaScript(unittest.TestCase):
    def test_body_is_a_long_string_it_cannot_end(self) -> None:
        self.assertEqual(wrk.lua_string(b'{"a": 1}'), '[[{"a": 1}]]')
        self.assertEqual(wrk.lua_string(b"]] ]=]"), "[==[]] ]=]]==]")

    def test_script_posts_the_body_to_the_path(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            lua = wrk.write_script(Path(tmp) / "x.lua", "/v2/models/wine/infer", b"{}")
            text = lua.read_text()
        self.assertIn('wrk.method = "POST"', text)
        self.assertIn('wrk.path = "/v2/models/wine/infer"', text)
        self.assertIn("wrk.body = [[{}]]", text)
        self.assertIn("'BENCHJSON {\"duration_us\"", text)


if __name__ == "__main__":
    unittest.main()
