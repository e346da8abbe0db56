"""The reports rendered from the recorded results are the committed reports.

Every bench/results/*.json with a .md beside it is rendered again and compared with
that .md, so splitting or reformatting the harness cannot change a report unseen.
The ratios and goals in each result are derived again from its cells, too.
"""

from __future__ import annotations

import copy
import json
import unittest
from pathlib import Path

from harness import BENCH, ROOT, figures, rendering

RESULTS = BENCH / "results"
DATA = Path(__file__).resolve().parent / "data"

# Reports written before bench/run measured the CPU per row and the ours-no-metrics
# and ours-colocated targets (commit 9f93d81): their JSON has no cpu_us_per_row and
# their prose is older. For them every table is compared, the throughput table
# without the column they did not have; the others are compared whole.
EARLIER = {"2026-11-27.md", "2026-11-28.md"}
EARLIER_GOALS = 14  # the two goals added with those targets come last


def tables(md: str) -> list[list[str]]:
    """The markdown tables of a report, each a list of its lines."""
    found: list[list[str]] = []
    previous = ""
    for line in md.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                found.append([])
            found[-1].append(line)
        previous = line
    return found


def without_column(table: list[str], header: str) -> list[str]:
    """The table with the column named `header` left out."""
    cells = [line.split("|") for line in table]
    names = [c.strip() for c in cells[0]]
    if header not in names:
        return table
    index = names.index(header)
    return ["|".join(c[:index] + c[index + 1:]) for c in cells]


def recorded(pattern: str) -> list[tuple[Path, Path]]:
    """(json, md) pairs of bench/results matching the pattern."""
    pairs = [(j, j.with_suffix(".md")) for j in sorted(RESULTS.glob(pattern))]
    return [(j, md) for j, md in pairs if md.exists()]


class BenchRunReports(unittest.TestCase):
    def test_there_are_reports_to_check(self) -> None:
        names = {md.name for _, md in recorded("????-??-??.json")}
        self.assertTrue(EARLIER <= names, names)
        self.assertTrue(names - EARLIER, "no report of the current renderer")

    def test_each_report_is_rendered_from_its_json(self) -> None:
        for path, md in recorded("????-??-??.json"):
            with self.subTest(md.name):
                got = rendering.render_md(json.loads(path.read_text())) + "\n"
                want = md.read_text()
                if md.name in EARLIER:
                    got_tables = [without_column(t, "CPU µs/row") for t in tables(got)]
                    self.assertEqual(got_tables, tables(want))
                else:
                    self.assertEqual(got, want)

    def test_ratios_and_goals_are_derived_again(self) -> None:
        for path, md in recorded("????-??-??.json"):
            with self.subTest(path.name):
                res = json.loads(path.read_text())
                again = copy.deepcopy(res)
                figures.derive(again)
                self.assertEqual(again["ratios"], res["ratios"])
                if md.name in EARLIER:
                    self.assertEqual(again["goals"][:EARLIER_GOALS], res["goals"])
                else:
                    self.assertEqual(again["goals"], res["goals"])


class BenchClientsReports(unittest.TestCase):
    def test_each_report_is_rendered_from_its_json(self) -> None:
        pairs = recorded("*-clients.json")
        self.assertTrue(pairs)
        for path, md in pairs:
            with self.subTest(md.name):
                got = rendering.render_clients(json.loads(path.read_text()))
                self.assertEqual(got, md.read_text())


class BenchSwarmReports(unittest.TestCase):
    def test_each_report_is_rendered_from_its_json(self) -> None:
        pairs = recorded("*-swarm.json")
        self.assertTrue(pairs)
        for path, md in pairs:
            with self.subTest(md.name):
                got = rendering.render_swarm(json.loads(path.read_text()))
                self.assertEqual(got, md.read_text())

    def test_cpu_per_request_is_weighted_by_each_replicas_requests(self) -> None:
        run = {"servers": [
            {"server": "batch-1 (10.0.1.2)", "requests": 300, "cpu_us_per_request": 10.0},
            {"server": "batch-1 (10.0.1.3)", "requests": 100, "cpu_us_per_request": 50.0},
            {"server": "batch-1 (10.0.1.4)", "requests": 0, "cpu_us_per_request": None},
            {"server": "batch-16", "requests": 9, "cpu_us_per_request": 99.0},
        ]}
        self.assertEqual(rendering.cpu_us_per_request(run, "batch-1"), 20.0)
        self.assertEqual(rendering.cpu_us_per_request(run, "batch-16"), 99.0)
        self.assertIsNone(rendering.cpu_us_per_request(run, "no-batch"))


class ScaleOutQuotes(unittest.TestCase):
    def test_scale_out_quotes_the_latest_swarm_figures(self) -> None:
        # docs/scale-out.md's "How far it goes": each set-up's requests/s and the
        # replica's CPU per request of the latest bench/swarm run.
        docs = (ROOT / "docs" / "scale-out.md").read_text()
        latest = sorted(RESULTS.glob("*-swarm.json"))[-1]
        self.assertIn(f"bench/results/{latest.with_suffix('.md').name}", docs)
        res = json.loads(latest.read_text())
        for run in res["runs"]:
            with self.subTest(f"{run['engine']}:{run['workers']}"):
                self.assertIn(f"| {rendering.stack_name(run)} | {rendering.locust_setup(run)} | "
                              f"{rendering.fixed(run['requests_per_s'])} |", docs)
        for c in res["ceiling"]:
            with self.subTest(f"{c['body']} {c['connections']}"):
                self.assertIn(f"{c['cpu_us_per_request']:.1f}", docs)


class BenchAbTables(unittest.TestCase):
    def test_the_table_is_what_bench_ab_printed(self) -> None:
        # Recorded from bench/ab as it was before the harness (one round of 1 s).
        res = json.loads((DATA / "ab-two-variants.json").read_text())
        self.assertEqual(rendering.render_ab(res), (DATA / "ab-two-variants.txt").read_text())

    def test_bench_readme_quotes_the_recorded_medians(self) -> None:
        # bench/README.md's table of the three recorded runs: req/s, p99 and CPU.
        readme = (BENCH / "README.md").read_text()
        for path in sorted(RESULTS.glob("*-ab-*.json")):
            res = json.loads(path.read_text())
            for name, m in res["medians"].items():
                with self.subTest(f"{path.name} {name}"):
                    figures_row = (f"| {m['req_per_s']:,.0f} | {m['p99_ms']:.3f} | "
                                   f"{m['cpu_us_per_req']:.2f} |")
                    self.assertIn(figures_row, readme.replace("**", ""))


class Formats(unittest.TestCase):
    def test_fmt_gives_small_figures_digits(self) -> None:
        self.assertEqual(rendering.fmt(85115.3), "85,115")
        self.assertEqual(rendering.fmt(4.56), "4.6")
        self.assertEqual(rendering.fmt(0.256), "0.26")
        self.assertEqual(rendering.fmt(3), "3")  # an int keeps no digits
        self.assertEqual(rendering.fmt(None), "–")
        self.assertEqual(rendering.fmt(97.04, 1, "x"), "97.0x")

    def test_tables_reads_separate_tables(self) -> None:
        md = "# t\n\n| a |\n|---|\n| 1 |\n\ntext\n\n| b |\n|---|\n"
        self.assertEqual(tables(md), [["| a |", "|---|", "| 1 |"], ["| b |", "|---|"]])
        self.assertEqual(without_column(["| a | b |", "|---|---|", "| 1 | 2 |"], "a"),
                         ["| b |", "|---|", "| 2 |"])


if __name__ == "__main__":
    unittest.main()
