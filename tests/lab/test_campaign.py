#!/usr/bin/env python3
"""The campaign driver's bookkeeping without a VM (run by scripts/test before `scripts/lab
--quick`): the plan a seed makes, pieces that go on from a kept state, lanes and their bounds, and
--merge. The VM's parts (set-up, backup, the cut itself) are replaced by stubs that record which
cut ran with which draw; everything else is campaign.py's own code.

    python3 tests/lab/test_campaign.py
"""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import campaign as C  # noqa: E402


class Stubbed:
    """campaign.main() with the VM stubbed out: each cut passes (or fails, for the cuts in
    `failing`) and checks `backups` backups."""

    def __init__(self, failing=(), backups=3):
        self.ran = []
        self.failing = set(failing)
        self.backups = backups

    def __enter__(self):
        self.saved = (C.Campaign.setup, C.Campaign.backup, C.Campaign.cut)
        stub = self

        def cut(c, n, kind):
            c.summary["cuts"][kind] += 1
            stub.ran.append((n, kind, c.rng.random()))
            c.summary["backups_checked"] += stub.backups
            c.summary["struck_a_running_backup"][kind] += 1
            ok = n not in stub.failing
            r = {"cut": n, "kind": kind, "ok": ok, "problems": [] if ok else ["stub failure"]}
            c.summary["results"].append(r)
            if not ok:
                c.summary["failures"].append(r)

        C.Campaign.setup = lambda c: None
        def backup(c, timeout=900):
            c.rng.randrange(1, 40)  # as add_rows() draws the run's rows
            return 0, ""

        C.Campaign.backup = backup
        C.Campaign.cut = cut
        return self

    def __exit__(self, *exc):
        C.Campaign.setup, C.Campaign.backup, C.Campaign.cut = self.saved


def run(*argv):
    """campaign.main() with argv; its exit status and what it printed."""
    out = io.StringIO()
    old = sys.argv
    sys.argv = ["campaign.py", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            C.main()
    except SystemExit as e:
        code = e.code
        if isinstance(code, str):  # sys.exit("message"): printed to stderr, status 1
            out.write(code + "\n")
            code = 1
    finally:
        sys.argv = old
    return code, out.getvalue()


class CampaignBookkeeping(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def out(self, name):
        d = os.path.join(self.tmp.name, name)
        os.makedirs(os.path.join(d, "work"), exist_ok=True)
        return d

    def state(self, out):
        with open(os.path.join(out, "work", "state.json")) as f:
            return json.load(f)

    def keep(self, out, name):
        """A piece's state, kept elsewhere (as in docs/lab-campaign/)."""
        p = os.path.join(self.tmp.name, name)
        with open(p, "w") as f:
            json.dump(self.state(out), f)
        return p

    def test_the_plan_has_every_kind_a_tenth_and_power_cuts_30_percent(self):
        a = self.out("a")
        with Stubbed():
            code, _ = run("--out", a, "--cuts", "200", "--seed", "7", "--budget", "0")
        plan = self.state(a)["summary"]["plan"]
        self.assertEqual(len(plan), 200)
        for k in C.KINDS:
            self.assertGreaterEqual(plan.count(k), 20, k)
        self.assertGreaterEqual(plan.count("power-cut"), 60)
        b = self.out("b")
        with Stubbed():
            run("--out", b, "--cuts", "200", "--seed", "7", "--budget", "0")
        self.assertEqual(self.state(b)["summary"]["plan"], plan, "the same seed, the same plan")

    def test_pieces_go_on_with_the_same_draws_as_a_run_in_one_go(self):
        whole = self.out("whole")
        with Stubbed() as one:
            code, _ = run("--out", whole, "--cuts", "30", "--seed", "11")
        self.assertEqual(code, 0)
        first = self.out("first")
        with Stubbed() as p1:
            run("--out", first, "--cuts", "30", "--seed", "11", "--budget", "0")
        kept = self.keep(first, "kept.json")
        second = self.out("second")
        with Stubbed() as p2:
            code, text = run("--out", second, "--continue", kept)
        self.assertEqual(code, 0, text)
        self.assertEqual(p1.ran + p2.ran, one.ran)
        s = self.state(second)["summary"]
        self.assertEqual([r["cut"] for r in s["results"]], list(range(1, 31)))
        self.assertEqual(len(s["pieces"]), 2)
        self.assertTrue(all("command" in p for p in s["pieces"]))

    def test_two_lanes_split_the_cuts_and_merge_adds_them_up(self):
        start = self.out("start")
        with Stubbed():
            run("--out", start, "--cuts", "40", "--seed", "3", "--budget", "0")
        kept = self.keep(start, "kept.json")  # cut 1 run, 2..40 to go
        a, b = self.out("a"), self.out("b")
        with Stubbed() as la:
            code, text = run("--out", a, "--continue", kept, "--last", "20")
        self.assertEqual(code, 0, text)
        with Stubbed(failing={33}) as lb:
            code, text = run("--out", b, "--continue", kept, "--lane", "21-40")
        self.assertEqual(code, 1, "a lane with a failed cut fails")
        self.assertEqual([n for n, _, _ in la.ran], list(range(2, 21)))
        self.assertEqual([n for n, _, _ in lb.ran], list(range(21, 41)))
        # The lane's draws are its own and repeat.
        b2 = self.out("b2")
        with Stubbed(failing={33}) as again:
            run("--out", b2, "--continue", kept, "--lane", "21-40")
        self.assertEqual(again.ran, lb.ran)
        # Each state keeps its bound: going on past it is refused, and --last only lowers.
        code, text = run("--out", self.out("a3"), "--continue", self.keep(a, "a.json"))
        self.assertNotEqual(code, 0)
        self.assertIn("run all its cuts, to cut 20", text)
        code, text = run("--out", self.out("b3"), "--continue", self.keep(b, "b.json"), "--last", "40")
        self.assertNotEqual(code, 0)
        code, text = run("--out", self.out("b4"), "--continue", kept, "--lane", "21-40", "--last", "30")
        self.assertNotEqual(code, 0)
        self.assertIn("not with --lane", text)
        # The merge: every cut once, counts summed, the failure listed, nothing missing.
        m = self.out("m")
        code, text = run("--out", m, "--merge", self.keep(a, "a.json"), self.keep(b, "b.json"))
        self.assertEqual(code, 1, text)
        self.assertIn("39 passed, 1 failed", text)
        with open(os.path.join(m, "summary.json")) as f:
            s = json.load(f)
        self.assertEqual([r["cut"] for r in s["results"]], list(range(1, 41)))
        self.assertEqual(s["missing"], [])
        self.assertEqual(s["backups_checked"], 40 * 3)
        self.assertEqual(sum(s["cuts"].values()), 40)
        self.assertEqual([f["cut"] for f in s["failures"]], [33])
        self.assertEqual(len(s["lanes"]), 2)
        with open(os.path.join(m, "table.md")) as f:
            table = f.read()
        self.assertIn("| **all** | **40** | **40** | **39** | **1** |", table)

    def lanes(self, out, argv, skip=()):
        """main() with --lanes, each lane's driver run in this process (stubbed like the rest)
        instead of in a process of its own; the lanes in `skip` end at once with status 1 and no
        state, as a lane whose set-up failed."""
        spawned = []

        class Done:
            def __init__(self, code):
                self.code = code

            def wait(self):
                return self.code

        def spawn(lane_argv, log_path, prefix):
            spawned.append(lane_argv)
            if len(spawned) in skip:
                return Done(1)
            code, text = run(*lane_argv)
            with open(log_path, "w") as f:
                f.write(text)
            return Done(code)

        saved = C.spawn_lane
        C.spawn_lane = spawn
        try:
            code, text = run("--out", out, *argv)
        finally:
            C.spawn_lane = saved
        return code, text, spawned

    def test_lanes_at_once_split_a_new_campaign_and_merge_it(self):
        out = self.out("q")
        with Stubbed() as s:
            code, text, spawned = self.lanes(out, ["--quick", "--seed", "5", "--lanes", "2"])
        self.assertEqual(code, 0, text)
        self.assertEqual(text.strip().splitlines()[-1], "14 passed, 0 failed")
        self.assertEqual(sorted(n for n, _, _ in s.ran), list(range(1, 15)), "every cut once")
        self.assertEqual([a[a.index("--lane") + 1] for a in spawned], ["1-7", "8-14"])
        with open(os.path.join(out, "summary.json")) as f:
            m = json.load(f)
        self.assertEqual(m["missing"], [])
        self.assertEqual(len(m["lanes"]), 2)
        for k in C.KINDS:
            self.assertEqual(m["cuts"][k], 2, k)
        # The same seed, the same plan as a quick campaign in one lane.
        one = self.out("one")
        with Stubbed():
            run("--out", one, "--quick", "--seed", "5")
        self.assertEqual(m["plan"], self.state(one)["summary"]["plan"])
        # A failed cut in a lane fails the whole.
        with Stubbed(failing={9}):
            code, text, _ = self.lanes(self.out("f"), ["--quick", "--seed", "5", "--lanes", "2"])
        self.assertEqual(code, 1, text)
        self.assertEqual(text.strip().splitlines()[-1], "13 passed, 1 failed")
        # A lane that left nothing (its set-up failed): its cuts are missing, and that fails too.
        with Stubbed():
            code, text, _ = self.lanes(self.out("g"), ["--quick", "--seed", "5", "--lanes", "2"], skip={2})
        self.assertEqual(code, 1, text)
        self.assertIn("lane-2 left no state", text)
        self.assertIn("not run yet: 7 of 14 cuts (from cut 8)", text)
        self.assertEqual(C.split(14, 3), [(1, 5), (6, 10), (11, 14)])
        self.assertEqual(C.split(2, 4), [(1, 1), (2, 2)])

    def test_merge_refuses_a_cut_run_twice_and_lists_the_cuts_not_run(self):
        start = self.out("start")
        with Stubbed():
            run("--out", start, "--cuts", "20", "--seed", "5", "--budget", "0")
        kept = self.keep(start, "kept.json")
        lane = self.out("lane")
        with Stubbed():
            run("--out", lane, "--continue", kept, "--lane", "15-20")
        m = self.out("m")
        code, text = run("--out", m, "--merge", kept, self.keep(lane, "lane.json"))
        self.assertEqual(code, 1)
        self.assertIn("not run yet: 13 of 20 cuts (from cut 2)", text)
        with open(os.path.join(m, "summary.json")) as f:
            self.assertEqual(json.load(f)["missing"], list(range(2, 15)))
        code, text = run("--out", m, "--merge", kept, kept)
        self.assertEqual(code, 1)
        self.assertIn("cut 1 was run by two lanes", text)
        other = self.out("other")
        with Stubbed():
            run("--out", other, "--cuts", "20", "--seed", "6", "--budget", "0")
        code, text = run("--out", m, "--merge", kept, self.keep(other, "other.json"))
        self.assertIn("another campaign", text)

    def test_a_lane_must_take_cuts_still_to_run(self):
        start = self.out("start")
        with Stubbed():
            run("--out", start, "--cuts", "20", "--seed", "5", "--budget", "0")
        kept = self.keep(start, "kept.json")
        for bad in ("1-5", "10-25", "12-11", "x"):
            code, text = run("--out", self.out("l" + bad), "--continue", kept, "--lane", bad)
            self.assertNotEqual(code, 0, bad)
            self.assertIn("--lane", text)
        code, text = run("--out", self.out("r"), "--resume", "--lane", "5-10")
        self.assertIn("--lane goes with --continue", text)


class GuestChecker(unittest.TestCase):
    """The guest's checker (tests/lab/guest/lab-check) on a folder tree, no VM: what it calls a
    backup, a stray, and a publish or removal a cut interrupted."""

    def test_final_named_files_next_to_their_partial_are_interrupted_not_strays(self):
        import hashlib
        import importlib.machinery
        import importlib.util
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest", "lab-check")
        loader = importlib.machinery.SourceFileLoader("lab_check", path)
        spec = importlib.util.spec_from_loader("lab_check", loader)
        lab_check = importlib.util.module_from_spec(spec)
        loader.exec_module(lab_check)
        with tempfile.TemporaryDirectory() as mnt:
            day = os.path.join(mnt, "SIMDONDAR-BACKUP", "pmi", "2026", "12", "07")
            os.makedirs(day)

            def backup(name, manifest_suffix=".json"):
                data = os.path.join(day, name)
                with open(data, "wb") as f:
                    f.write(name.encode())
                sha = hashlib.sha256(name.encode()).hexdigest()
                with open(data + ".sha256", "w") as f:
                    f.write(f"{sha}  {name}\n")
                with open(data + manifest_suffix, "w") as f:
                    json.dump({"started_at": "2026-12-07T09:20:54+07:00", "sha256": sha,
                               "parts": [name]}, f)

            backup("pmi_20261207-100000.sql.zst")                       # whole
            backup("pmi_20261207-092054.sql.zst", ".json.partial")      # cut 74: removal cut
            with open(os.path.join(day, "pmi_20261207-080000.sql.zst"), "w") as f:
                f.write("no manifest, no .partial")                     # a stray
            backups, strays, partials, interrupted = lab_check.scan_tree(mnt)
        self.assertEqual([b["ok"] for b in backups], [True])
        self.assertEqual([os.path.basename(s) for s in strays], ["pmi_20261207-080000.sql.zst"])
        self.assertEqual(sorted(os.path.basename(s) for s in interrupted),
                         ["pmi_20261207-092054.sql.zst", "pmi_20261207-092054.sql.zst.sha256"])
        self.assertEqual(len(partials), 1)
        self.assertEqual(lab_check.data_name("/d/x.sql.zst.part002.partial"), "/d/x.sql.zst")


class GuestUsb(unittest.TestCase):
    """plug_seen against a fake guest: a controller that died (L10) is bound again before the
    plug, and only once per death."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def guest(self, dead):
        c = C.Campaign.__new__(C.Campaign)
        c.out = self.tmp
        c.hc_deaths = 0
        g = {"dead": dead, "deaths": 1 if dead else 0, "plugged": set(), "scripts": []}

        class Vm:
            def plug(vm, disk, io_error_from=None):
                g["plugged"].add(disk)

            def pull(vm, disk):
                g["plugged"].discard(disk)

        def sh(script, timeout=600):
            g["scripts"].append(script)
            if script.startswith("dmesg"):
                return 0, f"{g['deaths']}\n"
            if "xhci_hcd" in script:
                g["dead"] = False
                return 0, "rebound\n"
            if script.startswith("lab-check list"):
                seen = [] if g["dead"] else [{"serial": f"LAB{d.upper()}2026"} for d in g["plugged"]]
                return 0, json.dumps(seen)
            raise AssertionError(f"unexpected script {script}")

        c.vm = Vm()
        c.sh = sh
        return c, g

    def test_a_dead_controller_is_bound_again_before_the_plug(self):
        c, g = self.guest(dead=True)
        note = c.plug_seen("d2")
        self.assertIn("USB controller had died", note)
        self.assertIn("unbound and bound again", note)
        self.assertEqual(sum("xhci_hcd" in s for s in g["scripts"]), 1)
        # The same death is not acted on twice.
        self.assertEqual(c.plug_seen("d1"), "")
        self.assertEqual(sum("xhci_hcd" in s for s in g["scripts"]), 1)

    def test_a_live_controller_is_left_alone(self):
        c, g = self.guest(dead=False)
        self.assertEqual(c.plug_seen("d0"), "")
        self.assertFalse(any("xhci_hcd" in s for s in g["scripts"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
