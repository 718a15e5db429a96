#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Unit tests of tools/bench/report.py (run by make check)."""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  pylint: disable=wrong-import-position


def line(cmp_, wl, cfg, rep, **metrics):
    return "BENCH " + json.dumps({"cmp": cmp_, "workload": wl, "config": cfg,
                                  "rep": rep, "metrics": metrics})


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="report-test-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def raw(self, lines, name="raw.jsonl"):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def goals_of(self, lines):
        """The goals report.py checks on LINES, by their "what"."""
        s = report.summarize(report.read_raw([self.raw(lines)])[0])
        return {g["what"]: g for g in report.check_goals(s)}

    @staticmethod
    def adds(scale, red_s, sn_s):
        """A replica add at SCALE: dm-red and shared-nothing seconds."""
        wl = f"replica-add-s{scale}"
        return [line("c5", wl, "dm-red", 1, seconds=red_s),
                line("c5", wl, "shared-nothing", 1, seconds=sn_s)]

    def test_median_spread_and_ratio(self):
        p = self.raw([
            'BENCHINFO {"kernel":"6.12","fio":"3.33"}',
            line("c1", "randread-4k-qd1", "dm-linear", 1, iops=100, lat_p99_us=1000),
            line("c1", "randread-4k-qd1", "dm-red", 1, iops=97, lat_p99_us=1010),
            line("c1", "randread-4k-qd1", "dm-linear", 2, iops=110, lat_p99_us=1000),
            line("c1", "randread-4k-qd1", "dm-red", 2, iops=99, lat_p99_us=1030),
            line("c1", "randread-4k-qd1", "dm-linear", 3, iops=90, lat_p99_us=1000),
            line("c1", "randread-4k-qd1", "dm-red", 3, iops=98, lat_p99_us=1020),
        ])
        rows, infos = report.read_raw([p])
        self.assertEqual(len(rows), 6)
        self.assertEqual(infos[0]["kernel"], "6.12")
        s = report.summarize(rows)
        st = s["c1"]["randread-4k-qd1"]["dm-linear"]["iops"]
        self.assertEqual(st["median"], 100)
        self.assertEqual(st["n"], 3)
        self.assertEqual(st["spread_pct"], 20.0)
        self.assertAlmostEqual(
            report.ratio(s, "c1", "randread-4k-qd1", "dm-red", "dm-linear", "iops"), 0.98)
        goals = {g["what"]: g for g in report.check_goals(s)}
        self.assertTrue(goals["randread-4k-qd1: dm-red/dm-linear IOPS"]["met"])
        self.assertEqual(goals["randread-4k-qd1: dm-red/dm-linear p99"]["value"], 1.02)
        self.assertTrue(goals["randread-4k-qd1: dm-red/dm-linear p99"]["met"])

    def test_goal_missed_is_reported(self):
        p = self.raw([
            line("c2", "randwrite-4k-qd1", "stable", 1, iops=1000),
            line("c2", "randwrite-4k-qd1", "copiers-2", 1, iops=400),
            line("c3", "rewrite-4k-qd1", "dm-snapshot", 1, iops=500),
            line("c3", "rewrite-4k-qd1", "dm-red-copier", 1, iops=600),
        ])
        s = report.summarize(report.read_raw([p])[0])
        goals = {g["cmp"]: g for g in report.check_goals(s)}
        self.assertFalse(goals["c2"]["met"])
        self.assertEqual(goals["c2"]["value"], 0.4)
        self.assertTrue(goals["c3"]["met"])
        text = report.text_report(s, list(goals.values()), [])
        self.assertIn("MISSED", text)
        self.assertIn("1 missed", text)

    def test_c5_goals(self):
        goals = self.goals_of([
            line("c5", "pgbench", "dm-red", 1, bytes_per_tx=12000, tps=50),
            line("c5", "pgbench", "shared-nothing", 1, bytes_per_tx=33000, tps=48),
        ] + self.adds(10, 20, 60) + self.adds(50, 22, 300))
        self.assertTrue(goals["bytes written per transaction, dm-red/shared-nothing"]["met"])
        g50 = goals["replica-add-s50: pg_basebackup time / dm-red copier join time"]
        self.assertTrue(g50["met"])
        self.assertAlmostEqual(g50["value"], 13.636, places=3)
        self.assertTrue(goals["dm-red replica add, scale 50 / scale 10 time"]["met"])

    def test_c5_quick_scales(self):
        # --quick runs scales 2 and 5: the goal is on the larger one, and 10
        # sorts before 5 as a string but not as a scale
        goals = self.goals_of(self.adds(2, 20, 30) + self.adds(5, 40, 50))
        g5 = goals["replica-add-s5: pg_basebackup time / dm-red copier join time"]
        self.assertFalse(g5["met"])
        self.assertEqual(g5["goal"], ">= 10x faster")
        self.assertTrue(goals["replica-add-s2: pg_basebackup time / dm-red copier join time"]["met"])
        const = goals["dm-red replica add, scale 5 / scale 2 time"]
        self.assertFalse(const["met"])
        self.assertEqual(const["value"], 2.0)
        goals = self.goals_of(self.adds(5, 10, 20) + self.adds(10, 10, 200))
        self.assertTrue(goals["replica-add-s10: pg_basebackup time / dm-red copier join time"]["met"])
        self.assertIn("dm-red replica add, scale 10 / scale 5 time", goals)

    def test_chunk_order(self):
        self.assertEqual(report.chunk_bytes("chunk-4k"), 4096)
        self.assertEqual(report.chunk_bytes("chunk-1m"), 1 << 20)
        self.assertIsNone(report.chunk_bytes("dm-red"))
        self.assertEqual(report.cfg_order("c4", {"chunk-1m", "chunk-64k", "chunk-4k"}),
                         ["chunk-4k", "chunk-64k", "chunk-1m"])

    def test_bad_input(self):
        for bad, why in (("BENCH {not json", "not JSON"),
                         ('BENCH {"cmp":"c1","workload":"w","metrics":{"iops":1}}', "config"),
                         (line("c1", "w", "a", 1, iops="fast"), "finite"),
                         ('BENCH {"cmp":"c1","workload":"w","config":"a","metrics":{}}',
                          "metrics"),
                         ("BENCH [1, 2]", "object")):
            p = self.raw([bad], name="bad.jsonl")
            with self.assertRaises(report.InputError) as cm:
                report.read_raw([p])
            self.assertIn(why, str(cm.exception))
        self.assertEqual(report.main([os.path.join(self.dir, "missing.jsonl")]), 2)

    def test_main_writes_json_and_plots(self):
        if not shutil.which("gnuplot"):
            self.skipTest("gnuplot not installed")
        lines = []
        for rep in (1, 2):
            for cfg, iops in (("dm-linear", 100 + rep), ("dm-red", 99 + rep)):
                lines.append(line("c1", "randwrite-4k-qd1", cfg, rep, iops=iops, lat_p99_us=900))
                # a quote in a label must not break the gnuplot script
                lines.append(line("c1", "it's \"odd\"", cfg, rep, iops=iops))
            for cfg, fw in (("chunk-4k", 50), ("chunk-64k", 80), ("chunk-1m", 20)):
                lines.append(line("c4", "firstwrite-4k-qd1", cfg, rep, iops=fw))
        p = self.raw(lines)
        js = os.path.join(self.dir, "results.json")
        plots = os.path.join(self.dir, "plots")
        self.assertEqual(report.main([p, "--json", js, "--plots", plots,
                                      "--text", os.path.join(self.dir, "r.txt")]), 0)
        with open(js, encoding="utf-8") as f:
            data = json.load(f)
        self.assertEqual(data["summary"]["c1"]["randwrite-4k-qd1"]["dm-red"]["iops"]["median"],
                         100.5)
        self.assertEqual(len(data["plots"]), 2)
        for png in data["plots"]:
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
