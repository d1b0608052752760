#!/usr/bin/env python3
"""The lab's campaign driver (issue 15; tests/lab/README.md), run by scripts/lab.

Boots target/lab/root.img (Debian bookworm amd64 with the project's .deb) under
qemu-system-x86_64 with TCG and no network device; talks to it over a virtio-serial port (the
guest's lab-shell) and QMP. Four USB disks (ext4, exFAT labelled SIMBAK01, FAT32, NTFS) hang off
a qemu-xhci controller, each a raw image under a throttle node (for "not answering") and, when an
I/O-error fault is prepared, a blkdebug node. Then, with a seed it prints, it repeats: a backup
runs (the CLI asking the running daemon, the way the button does), one fault strikes at a random
instant, and the checker (lab-check in the guest) looks at every disk read-only; the disks are
made whole again (replugged, unthrottled, filler removed), the next run must succeed, and the
checker looks again. Results: OUT/summary.json and OUT/campaign.log; last line `N passed, N failed`.
"""
import argparse
import base64
import calendar
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

KINDS = ["power-cut", "usb-pull", "io-error", "agent-kill", "dump-kill", "disk-full", "not-answering"]
DISKS = [  # (id, file system, label, role by)
    ("d0", "ext4", "LABEXT4", "marker"),
    ("d1", "exfat", "SIMBAK01", "label"),
    ("d2", "vfat", "LABFAT32", "marker"),
    ("d3", "ntfs", "LABNTFS", "marker"),
]
DISK_MB = 160
IO_EVERY = 512  # an io-error fault breaks one sector in every IO_EVERY (256 KiB)
IO_FROM = 4 << 11  # from the first 256 KiB past 4 MiB (sectors): below, every file system keeps
                   # its boot sector and first tables, so the disk still mounts
SLOW_BPS = 1 << 20  # bytes a second each USB disk moves while a backup runs
BULK_ROWS = 160  # rows of 32 KiB of random bytes (as base64) in the database from the start
ASK_AGAIN = 30  # seconds without an answer before asking lab-shell for it again
FLOOR = 5


def log(out, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(out, "campaign.log"), "a") as f:
        f.write(line + "\n")


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(60)
        self.s.connect(path)
        self.f = self.s.makefile("rwb", buffering=0)
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("QMP closed")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        r = self._read()
        if "error" in r:
            raise RuntimeError(f"QMP {name}: {r['error']}")
        return r.get("return")


class Vm:
    """One qemu process; a power cut kills it and a new Vm boots from the same files."""

    def __init__(self, work, out, boot_no, disks_attached, rules):
        self.work, self.out = work, out
        self.qmp_path = os.path.join(work, "qmp.sock")
        self.lab_path = os.path.join(work, "lab.sock")
        for p in (self.qmp_path, self.lab_path):
            if os.path.exists(p):
                os.unlink(p)
        self.console = os.path.join(out, f"console-{boot_no:03d}.log")
        cmd = [
            "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max",
            "-smp", "2", "-m", "2048", "-nodefaults", "-nic", "none", "-display", "none",
            "-kernel", os.path.join(out, "vmlinuz"), "-initrd", os.path.join(out, "initrd.img"),
            "-append", "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 panic=5",
            "-drive", f"file={os.path.join(work, 'root.img')},if=virtio,format=raw,cache=writeback",
            "-device", "qemu-xhci,id=xhci",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=lab,path={self.lab_path},server=on,wait=off",
            "-device", "virtserialport,chardev=lab,name=lab",
            # A second channel for a person watching a run (tests/lab/dbg.py).
            "-chardev", f"socket,id=dbg,path={os.path.join(work, 'dbg.sock')},server=on,wait=off",
            "-device", "virtserialport,chardev=dbg,name=dbg",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-serial", f"file:{self.console}",
        ]
        for d in DISKS:
            cmd += ["-object", f"throttle-group,id=tg-{d[0]}"]
        self.started = time.time()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(out, "qemu.stderr"), "a"))
        deadline = time.time() + 30
        while not os.path.exists(self.qmp_path):
            if time.time() > deadline or self.p.poll() is not None:
                raise RuntimeError("qemu did not start (see qemu.stderr)")
            time.sleep(0.1)
        time.sleep(0.3)
        self.qmp = Qmp(self.qmp_path)
        self.attached = set()
        for d in disks_attached:
            self.plug(d, rules.get(d))
        self.chan = None
        self.rid = 0
        self.recovered = 0

    # USB disks ---------------------------------------------------------------------------
    def plug(self, disk, io_error_from=None):
        path = os.path.join(self.work, f"{disk}.img")
        self.qmp.cmd("blockdev-add", **{"driver": "file", "node-name": f"f-{disk}",
                                         "filename": path, "cache": {"direct": False}})
        self.qmp.cmd("blockdev-add", **{"driver": "throttle", "node-name": f"t-{disk}",
                                         "throttle-group": f"tg-{disk}", "file": f"f-{disk}"})
        below = f"t-{disk}"
        if io_error_from is not None:
            # blkdebug's rules fire on the events the raw driver raises on the node right under
            # it (read_aio, write_aio), so blkdebug sits directly under raw: with the throttle
            # node between them (the first lab runs), no event reached it and no error came.
            size = os.path.getsize(path) // 512
            rules = []
            for ev in ("write_aio", "read_aio"):
                rules += [{"event": ev, "sector": s} for s in range(io_error_from, size, IO_EVERY)]
            self.qmp.cmd("blockdev-add", **{"driver": "blkdebug", "node-name": f"e-{disk}",
                                             "image": below, "inject-error": rules})
            below = f"e-{disk}"
        self.qmp.cmd("blockdev-add", **{"driver": "raw", "node-name": f"r-{disk}", "file": below})
        self.qmp.cmd("device_add", driver="usb-storage", bus="xhci.0", drive=f"r-{disk}",
                     id=f"usb-{disk}", serial=f"LAB{disk.upper()}2026", removable=True)
        self.attached.add(disk)

    def pull(self, disk):
        self.qmp.cmd("device_del", id=f"usb-{disk}")
        deadline = time.time() + 30
        while time.time() < deadline:
            ids = [d.get("qom_path", "") for d in self.qmp.cmd("query-block") or []]
            if not any(f"usb-{disk}" in i for i in ids):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        for node in (f"r-{disk}", f"e-{disk}", f"t-{disk}", f"f-{disk}"):
            try:
                self.qmp.cmd("blockdev-del", **{"node-name": node})
            except RuntimeError:
                pass
        self.attached.discard(disk)

    def throttle(self, disk, mode):
        """mode: "stuck" (1 I/O and 512 bytes a second: a disk that stops answering), "slow" (a
        cheap USB 2 flashdisk, SLOW_BPS: backups are measured and faults struck with the disks
        slow, so that the copies' writes and read-backs fill most of a run), "fast" (no limit:
        the checker's reads)."""
        limits = {"stuck": {"iops-total": 1, "bps-total": 512},
                  "slow": {"iops-total": 0, "bps-total": SLOW_BPS},
                  "fast": {"iops-total": 0, "bps-total": 0}}[mode]
        self.qmp.cmd("qom-set", path=f"tg-{disk}", property="limits", value=limits)

    def release(self, disk):
        """Lets the requests a "stuck" throttle held back go at once: new limits apply only to
        requests queued after them, so those held back would drain on the old schedule
        (minutes). Reopening the throttle node drains it, and a throttle node lifts its limits
        while drained. Returns the QMP error, if any (then they drain on their own)."""
        below = f"f-{disk}"  # the throttle node sits on the file node (plug)
        try:
            self.qmp.cmd("blockdev-reopen", options=[{"driver": "throttle", "node-name": f"t-{disk}",
                                                      "throttle-group": f"tg-{disk}", "file": below}])
            return None
        except RuntimeError as e:
            return str(e)

    # the command channel -------------------------------------------------------------------
    def connect(self, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("qemu exited while booting")
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.lab_path)
                self.chan = s
                self.buf = b""
                r = self.run("echo up", timeout=20)
                if r[0] == 0:
                    return time.time() - self.started
            except (OSError, TimeoutError):
                pass
            time.sleep(1)
        raise TimeoutError("the guest's lab-shell never answered")

    def run(self, script, timeout=600):
        """Runs script in the guest; its exit status and output. An answer late by ASK_AGAIN
        seconds is asked for again (`? ID`, guest/lab-shell): lab-shell runs requests in order, so
        it answers once the command is done, from what it kept, or says the request never arrived
        and it is sent again (it never ran). self.recovered counts answers that took this."""
        self.rid += 1
        rid = str(self.rid)
        request = f"{rid} {timeout} ".encode() + base64.b64encode(script.encode()) + b"\n"
        self.chan.settimeout(ASK_AGAIN)
        self.chan.sendall(request)
        deadline = time.time() + timeout + 30
        while time.time() < deadline:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                again = line.startswith(b"! ")
                parts = line[2 if again else 0:].decode(errors="replace").split(" ", 2)
                if len(parts) != 3 or parts[0] != rid:
                    continue  # an earlier request's answer, given again
                if parts[1] == "?":
                    self.recovered += 1  # the request was lost on the way: send it again
                    self.chan.sendall(request)
                    continue
                self.recovered += again  # the answer was lost on the way: this is its copy
                return int(parts[1]), base64.b64decode(parts[2]).decode(errors="replace")
            try:
                chunk = self.chan.recv(65536)
            except TimeoutError:
                self.chan.sendall(f"? {rid}\n".encode())
                continue
            if not chunk:
                raise ConnectionError("lab-shell closed")
            self.buf += chunk
        raise TimeoutError(f"no answer to: {script[:80]}")

    def kill(self):
        """The power cut: the whole machine stops at once; what the guest had not written to its
        disks is lost, what it had is in the image files."""
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        if self.chan:
            self.chan.close()

    def poweroff(self):
        """A clean shutdown (the agent and MariaDB stopped by systemd, the disks unmounted);
        only a guest that has not gone in two minutes is cut. The channel may close before the
        answer comes back: that is the shutdown, not a failure."""
        try:
            self.run("sync; systemctl poweroff --no-block", timeout=30)
        except Exception:  # noqa: BLE001 - lab-shell was stopped by the shutdown itself
            pass
        try:
            self.p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill()


def make_disks(work):
    for disk, fs, label, _ in DISKS:
        path = os.path.join(work, f"{disk}.img")
        with open(path, "wb") as f:
            f.truncate(DISK_MB << 20)
        mk = {
            "ext4": ["mkfs.ext4", "-q", "-L", label, path],
            "exfat": ["mkfs.exfat", "-L", label, path],
            "vfat": ["mkfs.vfat", "-F", "32", "-n", label, path],
            "ntfs": ["mkfs.ntfs", "-q", "-F", "-f", "-L", label, path],
        }[fs]
        subprocess.run(mk, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Campaign:
    def __init__(self, args):
        self.out = args.out
        self.work = os.path.join(args.out, "work")
        self.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
        self.rng = random.Random(self.seed)
        self.boot_no = 0
        self.vm = None
        self.rules = {}
        self.summary = self.fresh_summary()
        self.lines_lost = 0  # requests or answers lost between host and guest, sent again
        self.hc_deaths = 0  # the guest's count of "HC died" (revive_usb_if_dead), per boot
        self.timing = {}  # the first word of each command sent -> seconds spent in it
        self.known = {}  # disk uuid -> {path: sha256} of whole backups seen by the last check
        self.rows = 0
        self.known_started = {}  # (disk uuid, path) -> started_at of every backup seen
        self.typical = 8.0

    def fresh_summary(self):
        return {"seed": self.seed, "command": " ".join(sys.argv), "cuts": {k: 0 for k in KINDS},
                "backups_checked": 0, "backups_lost": 0, "incomplete_final": 0,
                "recoveries_failed": 0, "failures": [], "boots": [], "results": [],
                "struck_a_running_backup": {k: 0 for k in KINDS}}

    def lane(self, first, last):
        """Turns the campaign load() read into a new lane of it: cuts first..last of the same plan,
        run beside the lane that goes on from that state (on another LAB_OUT, so its own VM and
        disks), with a summary of its own cuts only (merge() adds the lanes up) and draws from a
        random generator of its own, seeded from the campaign's seed and `first` (so the lane
        repeats as it is; a run in one go would have drawn other instants for these cuts)."""
        plan = self.summary["plan"]
        self.summary = self.fresh_summary()
        self.summary.update({"plan": plan, "pieces": [], "lane": [first, last], "last": last})
        self.rng = random.Random(f"{self.seed}:{first}")
        self.timing, self.lines_lost, self.boot_no = {}, 0, 0

    def boot(self):
        self.boot_no += 1
        self.lines_lost += self.vm.recovered if self.vm else 0
        self.vm = Vm(self.work, self.out, self.boot_no, [d[0] for d in DISKS], self.rules)
        self.hc_deaths = 0  # the guest's count of "HC died" (revive_usb_if_dead), per boot
        took = self.vm.connect()
        self.summary["boots"].append(round(took, 1))
        log(self.out, f"boot {self.boot_no}: lab-shell answered after {took:.1f} s")
        rc, text = self.vm.run("systemctl is-system-running --wait; systemctl is-active simdondar-backup", timeout=600)
        if "active" not in text.split():
            raise RuntimeError(f"the agent is not active after boot: {text}")
        if self.boot_no > 1:
            # The database runs in the VM too, so a power cut crashes it: its MyISAM table may
            # be marked crashed, and a dump of it then fails (rightly). The unit's DBA repairs it
            # after a crash; so does the lab, before the next run.
            rc, text = self.vm.run("mariadb -N -e 'REPAIR TABLE pmi.hasilelisa' | cut -f3-", timeout=300)
            if rc != 0 or "OK" not in text:
                log(self.out, f"  REPAIR TABLE pmi.hasilelisa after boot {self.boot_no}: {text.strip()[-200:]}")

    def sh(self, script, timeout=600):
        t0 = time.time()
        try:
            return self.vm.run(script, timeout=timeout)
        finally:
            took = time.time() - t0
            self.timing[script.split()[0]] = self.timing.get(script.split()[0], 0.0) + took
            if took > 60:
                log(self.out, f"  ({took:.0f} s: {script[:70]})")

    def wait_disks(self, n, timeout=120):
        """Until the daemon itself has n USB disks enrolled and mounted read-write ("ready" in
        `status --json`): a run starts with the disks the daemon holds, so a disk just plugged in
        that it has not taken yet would get no copy and no fault."""
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            rc, text = self.sh("simdondar-backup status --json", timeout=60)
            try:
                disks = json.loads(text)["daemon"]["disks"]
                seen = [((d.get("view") or {}).get("label"), d.get("phase")) for d in disks]
                if sum(1 for d in disks if d.get("phase") == "ready") >= n:
                    return disks
            except (ValueError, KeyError, TypeError):
                seen = text[-400:]
            time.sleep(2)
        raise RuntimeError(f"the daemon does not hold {n} ready disks: {seen}")

    def guest_sees(self, disk, present, timeout=90):
        """Waits until the guest's kernel and udev list the USB disk (by its serial) or, with
        present=False, no longer list it. Whether they did."""
        serial = f"LAB{disk.upper()}2026"
        deadline = time.time() + timeout
        while True:
            rc, text = self.sh("lab-check list", timeout=120)
            try:
                seen = any(d.get("serial") == serial for d in json.loads(text))
            except (ValueError, AttributeError):
                seen = None
            if seen is present:
                return True
            if time.time() > deadline:
                return False
            time.sleep(2)

    def plug_seen(self, disk, io_error_from=None):
        """Plugs the disk in and waits until the guest sees it, as a person waits for the
        panel: a plug the guest never noticed (seed 20261206 cut 50, on a loaded host: the
        guest's kernel logged the disconnect and never a connect, so the daemon had three disks;
        L9) is pulled and plugged again, up to three times. A guest whose USB controller has
        died (L10) has it brought back first. Returns a note when it took more than one plug."""
        notes = []
        for attempt in range(1, 4):
            revived = self.revive_usb_if_dead()
            if revived:
                notes.append(revived)
            self.vm.plug(disk, io_error_from)
            if self.guest_sees(disk, True):
                if attempt > 1:
                    notes.append(f"the guest saw {disk} after plug {attempt}")
                return "; ".join(notes)
            log(self.out, f"  the guest did not see {disk} after plug {attempt}: pulled and plugged again")
            self.vm.pull(disk)
            self.guest_sees(disk, False)
        raise RuntimeError(f"the guest did not see {disk} after three plugs")

    def revive_usb_if_dead(self):
        """qemu's xHCI completes a Stop Endpoint command only once the usb-storage request it
        cancels has finished, and a "stuck" throttle holds that request for minutes; the guest
        waits 5 s, logs "xHCI host controller not responding, assume dead … HC died" and drops
        every USB disk, and no later plug reaches it (seed 20261206 cut 155: three plugs unseen;
        L10). Real controllers answer that command at once. When the guest's kernel has logged a
        controller death since the last look, the controller is unbound from xhci_hcd and bound
        again (its reset brings back every disk still plugged in, as a reboot would). Returns a
        note, or "" when the controller is alive."""
        rc, text = self.sh("dmesg | grep -c 'HC died'", timeout=60)
        try:
            deaths = int(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return ""
        seen, self.hc_deaths = self.hc_deaths, deaths
        if deaths <= seen:
            return ""
        rc, text = self.sh("cd /sys/bus/pci/drivers/xhci_hcd && for d in 0000:*; do "
                           "echo $d > unbind; sleep 1; echo $d > bind; done && echo rebound",
                           timeout=120)
        done = rc == 0 and "rebound" in text
        note = ("the guest's USB controller had died (qemu's xHCI, L10): xhci_hcd "
                + ("unbound and bound again" if done else f"could not be bound again: {text.strip()[-200:]}"))
        log(self.out, "  " + note)
        return note

    def replug(self, disk, io_error_from=None):
        """Pulls the disk, waits until the guest has let go of it, and plugs it back in
        (plug_seen)."""
        self.vm.pull(disk)
        if not self.guest_sees(disk, False):
            log(self.out, f"  the guest still lists {disk} 90 s after it was pulled")
        return self.plug_seen(disk, io_error_from)

    def disk_phase(self, disk, disks, settle=45):
        """The daemon's phase for one of the lab's disks (by label), waiting up to `settle`
        seconds for it to become ready; "absent" when the daemon does not list it."""
        label = dict((x[0], x[2]) for x in DISKS)[disk]
        deadline = time.time() + settle
        while True:
            phase = "absent"
            for d in disks:
                if (d.get("view") or {}).get("label") == label:
                    phase = d.get("phase") or "unknown"
            if phase == "ready" or time.time() > deadline:
                return phase
            time.sleep(2)
            rc, text = self.sh("simdondar-backup status --json", timeout=60)
            try:
                disks = json.loads(text)["daemon"]["disks"]
            except (ValueError, KeyError, TypeError):
                disks = []

    def with_disk_rw(self, disk, script):
        """Runs `script` with the disk mounted read-write at /mnt/fill, the agent stopped (what
        somebody filling the disk on another computer would do)."""
        label = dict((x[0], x[2]) for x in DISKS)[disk]
        fs = dict((x[0], x[1]) for x in DISKS)[disk]
        t = "-t ntfs-3g" if fs == "ntfs" else ""
        return self.sh(f"systemctl stop simdondar-backup; mkdir -p /mnt/fill; "
                       f"mount {t} LABEL={label} /mnt/fill && ({script}); sync; umount /mnt/fill",
                       timeout=600)

    def setup(self):
        os.makedirs(self.work, exist_ok=True)
        try:
            with open(os.path.join(self.out, "root.stamp")) as f:
                self.summary["image"] = f.read().strip()  # the .deb and guest files it runs
        except OSError:
            pass
        shutil.copyfile(os.path.join(self.out, "root.img"), os.path.join(self.work, "root.img"))
        make_disks(self.work)
        self.boot()
        # Enrol the disks whose role comes from a marker (the exFAT one is enrolled by its label).
        rc, text = self.sh("lab-check list")
        self.sh("systemctl stop simdondar-backup", timeout=200)
        for d in json.loads(text):
            if d["label"].startswith("SIMBAK"):
                continue
            rc, t = self.sh(f"simdondar-backup disk enroll {d['dev']} --role auto")
            if rc != 0:
                raise RuntimeError(f"enroll {d['dev']}: {t}")
        self.resume()
        self.bulk(BULK_ROWS)
        for _ in range(2):
            rc, text = self.backup()
            if rc != 0:
                raise RuntimeError(f"a backup before any fault failed: {text}")
        res = self.check("setup", restore=True)
        if res["problems"]:
            raise RuntimeError(f"the check before any fault failed: {res['problems']}")
        self.resume()  # the checker leaves the agent stopped

    def bulk(self, rows):
        """rows rows of 32 KiB of random bytes as base64 (TEXT holds 64 KiB), made by the server
        (RANDOM_BYTES, the Sequence engine's seq_1_to_N): the copies are mostly incompressible, so
        they fill the disks' sectors an I/O-error fault breaks and take seconds to write."""
        rnd = "CONCAT(" + ",".join(["RANDOM_BYTES(1024)"] * 32) + ")"
        rc, t = self.sh(f"mariadb pmi -e \"INSERT INTO pendonor (nama, gol, catatan) SELECT "
                        f"CONCAT('bulk ', seq), 'AB', TO_BASE64({rnd}) FROM seq_1_to_{rows};\"")
        if rc != 0:
            raise RuntimeError(f"adding {rows} bulk rows failed: {t[-400:]}")

    def add_rows(self):
        n = self.rng.randrange(1, 40)
        self.rows += n
        vals = ",".join(f"('donor {self.rows}-{i}','O+','catatan ''{i}''; ),(')" for i in range(n))
        # hasilelisa is MyISAM: after a power cut its auto-increment counter can lag behind its
        # rows (seed 41: "Duplicate entry '50' for key 'PRIMARY'"), so its ids are given.
        rc, t = self.sh(f"mariadb pmi -e \"INSERT INTO pendonor (nama, gol, catatan) VALUES {vals}; "
                        f"INSERT INTO hasilelisa (id, pendonor, hasil) SELECT m.top + ROW_NUMBER() OVER (), p.id, 'NR' "
                        f"FROM (SELECT id FROM pendonor ORDER BY id DESC LIMIT {n}) p, "
                        f"(SELECT COALESCE(MAX(id), 0) AS top FROM hasilelisa) m;\"")
        if rc != 0:
            raise RuntimeError(f"adding rows failed: {t[-400:]}")
        # And 64 KiB more of incompressible text a run: the copies grow into new sectors.
        self.bulk(2)

    def speed(self, mode):
        for d in sorted(self.vm.attached):
            self.vm.throttle(d, mode)

    def backup(self, timeout=900):
        self.add_rows()
        self.speed("slow")
        try:
            return self.sh("simdondar-backup backup 2>&1", timeout=timeout)
        finally:
            self.speed("fast")

    def start_backup(self):
        self.add_rows()
        self.speed("slow")
        self.sh("rm -f /tmp/lab-backup.*; (setsid simdondar-backup backup >/tmp/lab-backup.log 2>&1; "
                "echo $? >/tmp/lab-backup.rc) </dev/null >/dev/null 2>&1 &")

    def running(self):
        """Whether the backup start_backup started is still running (asked just before a fault
        strikes, so that the summary can say which faults struck a run and which came after)."""
        rc, t = self.sh("test -f /tmp/lab-backup.rc && echo ended || echo running", timeout=30)
        return t.strip() == "running"

    def wait_backup(self, timeout=600):
        rc, text = self.sh(f"for i in $(seq {timeout}); do [ -f /tmp/lab-backup.rc ] && break; sleep 1; done; "
                           "cat /tmp/lab-backup.rc /tmp/lab-backup.log", timeout=timeout + 30)
        self.speed("fast")
        return text

    def check(self, label, restore):
        self.speed("fast")
        rc, text = self.sh("lab-check scan" + ("" if restore else " --no-restore"), timeout=1500)
        problems = []
        try:
            res = json.loads(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"problems": [f"checker output unreadable: {text[-500:]}"], "lost": 0, "incomplete": 0}
        lost = incomplete = checked = 0
        interrupted = []
        new_known = {}
        for d in res["disks"]:
            uuid = d.get("uuid") or d["dev"]
            if "mount_error" in d:
                problems.append(f"{d['label']}: cannot mount read-only: {d['mount_error']}")
                continue
            ok = {b["path"]: b["sha256"] for b in d["backups"] if b["ok"]}
            checked += len(ok)
            for b in d["backups"]:
                if not b["ok"]:
                    incomplete += 1
                    problems.append(f"{d['label']}: {b['path']} under a final name is not whole: {b.get('problem')}")
            for s in d["strays"]:
                incomplete += 1
                problems.append(f"{d['label']}: {s} is final-named but belongs to no backup")
            # Right after a fault, a publish or removal it interrupted (final-named files of no
            # backup next to their .partial) is expected; the next run's sweep must undo it.
            if label.endswith("recovered"):
                for s in d.get("interrupted", []):
                    incomplete += 1
                    problems.append(f"{d['label']}: {s} of an interrupted publish or removal is still there after the next run")
            elif d.get("interrupted"):
                interrupted.extend(f"{d['label']}: {s}" for s in d["interrupted"])
            # Earlier backups: each still whole, unless retention removed it (older than the
            # newest FLOOR whole ones, which must then be there).
            times = sorted((b["started_at"] for b in d["backups"] if b["ok"]), reverse=True)
            cutoff = times[FLOOR - 1] if len(times) >= FLOOR else ""
            started = {b["path"]: b.get("started_at", "") for b in d["backups"]}
            for path, sha in self.known.get(uuid, {}).items():
                if ok.get(path) == sha:
                    continue
                if path not in started and cutoff and self.known_started.get((uuid, path), "") < cutoff:
                    continue  # pruned by retention, wholly
                lost += 1
                problems.append(f"{d['label']}: earlier backup {path} lost or changed")
            cat = d.get("catalog", {})
            for m in cat.get("missing", []):
                problems.append(f"{d['label']}: the catalog lists {m} as written, the disk has no such backup")
            for u in cat.get("unrecorded", []):
                run = u.get("run") or {}
                if run.get("status") != "failed" or "kept" not in (run.get("reason") or ""):
                    problems.append(f"{d['label']}: {u['path']} on the disk is unknown to the catalog (run {run})")
            if cat.get("running_runs"):
                problems.append(f"the catalog still shows {cat['running_runs']} run(s) running")
            if label.endswith("recovered") and cat.get("pruned_but_there"):
                problems.append(f"{d['label']}: recorded as pruned but still there: {cat['pruned_but_there']}")
            new_known[uuid] = ok
            for b in d["backups"]:
                self.known_started[(uuid, b["path"])] = b.get("started_at", "")
        if restore:
            r = res.get("restore")
            if not r:
                problems.append("no whole clear backup to restore")
            elif r["rc"] != 0:
                problems.append(f"restore of {r['path']} failed: {r['output'][-400:]}")
        self.known = new_known
        return {"problems": problems, "lost": lost, "incomplete": incomplete, "checked": checked,
                "interrupted": interrupted,
                "disks": {d.get("label"): len(d.get("backups", [])) for d in res["disks"]}}

    def resume(self):
        self.sh("systemctl start simdondar-backup", timeout=200)
        self.wait_disks(len(DISKS))

    # one cut --------------------------------------------------------------------------------
    def cut(self, n, kind):
        self.summary["cuts"][kind] += 1
        disk = self.rng.choice([d[0] for d in DISKS])
        # Within the run: a clean backup's length includes the CLI's and the shell's overhead.
        # A dump-kill's instant counts from when the dump itself started (see below), from
        # [0, 0.04 x a run]: the lab's dump lives under a second (seed 5: 0.68 s in struck,
        # 0.94 s did not).
        instant = round(self.rng.uniform(0.0, (0.04 if kind == "dump-kill" else 0.8) * self.typical), 2)
        log(self.out, f"cut {n}: {kind} on {disk} at {instant} s")
        note = ""
        struck = False  # the fault came while the run was running (or, for a disk fault, failed it)
        if kind == "power-cut":
            self.start_backup()
            time.sleep(instant)
            struck = self.running()
            self.vm.kill()
            self.boot()
        elif kind == "usb-pull":
            self.start_backup()
            time.sleep(instant)
            struck = self.running()
            self.vm.pull(disk)
            note = self.wait_backup()
            if not self.guest_sees(disk, False):
                note += f"; the guest still listed {disk} after the run"
            plugged = self.plug_seen(disk)
            if plugged:
                note += "; " + plugged
        elif kind == "agent-kill":
            self.start_backup()
            time.sleep(instant)
            struck = self.running()
            self.sh("systemctl kill -s KILL simdondar-backup")
            note = self.wait_backup()
            self.sh("sleep 12; systemctl is-active simdondar-backup", timeout=60)
        elif kind == "dump-kill":
            self.start_backup()
            # The lab's dump lives only 1-2 s at the start of a run, and the kills of seed
            # 514721407 at 2.4 and 4.7 s found it gone; so the guest waits for the dump itself
            # (not the agent's `mariadb-dump --version` just before it, which seed 42's kill hit,
            # and not a dump that has exited and waits to be reaped: seed 1371866616 "killed"
            # such a zombie and the run rightly went on) and kills it `instant` seconds into its
            # life, drawn for this kind from [0, 0.04 x a run], about 0-0.6 s.
            rc, t = self.sh(
                "live() { for p in $(pgrep -x mariadb-dump); do "
                "st=$(awk '{print $3}' /proc/$p/stat 2>/dev/null); "
                "if [ -z \"$st\" ] || [ \"$st\" = Z ]; then continue; fi; "
                "tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q -- ' --version' && continue; "
                "echo $p; done; }; "
                "i=0; while [ -z \"$(live)\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
                f"sleep {instant}; "
                "k=''; for p in $(live); do kill -KILL $p 2>/dev/null && k=killed; done; "
                "echo ${k:-no dump running}")
            struck = t.strip() == "killed"
            note = t.strip() + "; " + self.wait_backup()
        elif kind == "disk-full":
            rc, t = self.with_disk_rw(disk, "dd if=/dev/zero of=/mnt/fill/lab-filler bs=1M status=none "
                                            "2>/dev/null; sync; df -k /mnt/fill | tail -1")
            note = "filled: " + t.strip()
            self.resume()
            rc, t = self.backup()
            note += "; backup exit " + str(rc) + ": " + t[-300:]
            struck = rc != 0
        elif kind == "io-error":
            # One sector in every 256 KiB is broken, from somewhere in the first 256 KiB past
            # 4 MiB to the end: a copy of a few MiB lands on dozens of them wherever the file
            # system puts it. (From a random sector in the first quarter, one every MiB, seed 15's
            # copy landed below the first broken sector and nothing failed.)
            sector = self.rng.randrange(IO_FROM, IO_FROM + IO_EVERY)
            plugged = self.replug(disk, sector)
            # The broken disk may not mount at all (its metadata can sit on a broken sector):
            # the run goes on with the other three, and the disk's phase says what the daemon
            # made of it.
            disks = self.wait_disks(len(DISKS) - 1)
            phase = self.disk_phase(disk, disks)
            rc, t = self.backup()
            note = f"errors from sector {sector}; the disk was {phase}; backup exit {rc}: {t[-300:]}"
            struck = rc != 0 or phase != "ready"
            extra = [x for x in (plugged, self.replug(disk)) if x]
            if extra:
                note += "; " + "; ".join(extra)
        elif kind == "not-answering":
            self.start_backup()
            time.sleep(instant)
            struck = self.running()
            self.vm.throttle(disk, "stuck")
            note = self.wait_backup(timeout=900)
            self.vm.throttle(disk, "fast")
            # qemu keeps the requests it held back on their old schedule after the limits are
            # lifted, so the disk would answer again only once they had drained (minutes):
            # release them, then wait for the guest's in-flight counts to reach zero, as IT
            # Support waits for the panel's "safe".
            t0 = time.time()
            err = self.vm.release(disk)
            if err:
                note += f"; releasing the held-back requests failed ({err}), waited for them"
            rc, t = self.sh("for i in $(seq 300); do grep -qv '^ *0 *0$' /sys/block/sd*/inflight || "
                            "{ echo drained; break; }; sleep 1; done", timeout=360)
            note += f"; the held-back requests drained in {time.time() - t0:.0f} s ({t.strip() or 'not drained'})"
            # The daemon cut the disk off and says "unplug it and check it on a PC": IT Support
            # unplugs it and plugs it back in. (Left in, the guest kernel still held the old
            # mount's stuck writeback, and the daemon's next look at the same device stayed
            # "checking": seed 4 and seed 41, L4.)
            replugged = self.replug(disk)
            if replugged:
                note += "; " + replugged
        res = self.check(f"cut {n}", restore=True)
        if res.get("interrupted"):
            note += "; interrupted, for the next run to undo: " + ", ".join(res["interrupted"])
        if kind == "disk-full":
            self.with_disk_rw(disk, "rm -f /mnt/fill/lab-filler")
        self.resume()
        rc, t = self.backup()
        recovered = rc == 0
        if not recovered:
            res["problems"].append(f"the next run failed: {t[-600:]}")
        rc2, status = self.sh("simdondar-backup status --json")
        try:
            st = json.loads(status)
            srcs = st.get("sources", [])
            if recovered and not all((s.get("last_run") or {}).get("status") == "ok" for s in srcs):
                res["problems"].append(f"status does not show the successful run: {status[-400:]}")
        except ValueError:
            res["problems"].append(f"status --json unreadable: {status[-300:]}")
        after = self.check(f"cut {n} recovered", restore=False)
        self.resume()
        res["problems"] += after["problems"]
        self.summary["backups_checked"] += res["checked"]
        self.summary["backups_lost"] += res["lost"] + after["lost"]
        self.summary["incomplete_final"] += res["incomplete"] + after["incomplete"]
        self.summary["recoveries_failed"] += 0 if recovered else 1
        self.summary["struck_a_running_backup"][kind] += struck
        result = {"cut": n, "kind": kind, "disk": disk, "instant": instant, "struck": struck,
                  "ok": not res["problems"],
                  "note": note[-500:], "problems": res["problems"]}
        self.summary["results"].append(result)
        if res["problems"]:
            self.summary["failures"].append(result)
        log(self.out, f"cut {n}: {'PASS' if result['ok'] else 'FAIL'}{'' if struck else ' (after the run)'} {res['problems'][:3]}")
        self.write()

    # a campaign in pieces ---------------------------------------------------------------------
    def save(self, next_cut):
        """Everything a later `--resume` needs to go on from cut next_cut with the disks and the
        root image as they are now: written after the set-up and after every cut."""
        state = {"seed": self.seed, "next": next_cut, "summary": self.summary, "known": self.known,
                 "known_started": [[u, p, t] for (u, p), t in self.known_started.items()],
                 "rows": self.rows, "typical": self.typical, "timing": self.timing,
                 "lines_lost": self.lines_lost + (self.vm.recovered if self.vm else 0),
                 "boot_no": self.boot_no, "rng": [self.rng.getstate()[0], list(self.rng.getstate()[1]),
                                                  self.rng.getstate()[2]]}
        tmp = os.path.join(self.work, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.work, "state.json"))

    def load(self, path=None):
        """The state save() left; the next cut to run. With `path`, a state kept elsewhere (in git
        from an earlier session, whose machine and disks are gone): the seed, the plan, the
        results and the draws go on; what the checker knew of the old disks does not."""
        with open(path or os.path.join(self.work, "state.json")) as f:
            state = json.load(f)
        self.seed = state["seed"]
        self.summary = state["summary"]
        self.timing = state["timing"]
        self.lines_lost, self.boot_no = state["lines_lost"], state["boot_no"]
        v, internal, gauss = state["rng"]
        self.rng.setstate((v, tuple(internal), gauss))
        if path is None:
            self.known = state["known"]
            self.known_started = {(u, p): t for u, p, t in state["known_started"]}
            self.rows, self.typical = state["rows"], state["typical"]
        return state["next"]

    def write(self):
        s = dict(self.summary)
        s["passed"], s["failed"] = tally(s["results"])
        s["channel_lines_resent"] = self.lines_lost + (self.vm.recovered if self.vm else 0)
        s["seconds_by_command"] = {k: round(v) for k, v in sorted(self.timing.items(), key=lambda x: -x[1])}
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(s, f, indent=2)
        return s


COUNTS = ["backups_checked", "backups_lost", "incomplete_final", "recoveries_failed"]


def tally(results):
    """(passed, failed) of a list of cut results."""
    passed = sum(1 for r in results if r["ok"])
    return passed, len(results) - passed


def cut_no(r):
    """The cut a result belongs to, for ordering: a resume check ("resume N") goes before cut N."""
    c = r["cut"]
    if isinstance(c, int):
        return (c, 1)
    try:
        return (int(str(c).split()[-1]), 0)
    except ValueError:
        return (0, 0)


def merge(out, paths):
    """Adds up the lanes of one campaign (their kept states) into OUT/summary.json: the cuts each
    ran, their counts and results; says which cuts of the plan no lane has run yet. Exit status 0
    only when every cut has run and passed."""
    states = []
    for p in paths:
        with open(p) as f:
            states.append(json.load(f))
    first = states[0]["summary"]
    for p, st in zip(paths, states):
        if st["seed"] != first["seed"] or st["summary"]["plan"] != first["plan"]:
            sys.exit(f"{p} is a lane of another campaign (seed {st['seed']}, not {first['seed']})")
    m = {"seed": first["seed"], "plan": first["plan"], "lanes": [], "pieces": [], "boots": [],
         "results": [], "failures": [], "cuts": {k: 0 for k in KINDS},
         "struck_a_running_backup": {k: 0 for k in KINDS}, "channel_lines_resent": 0,
         "seconds_by_command": {}}
    for k in COUNTS:
        m[k] = 0
    ran = {}
    for p, st in zip(paths, states):
        s = st["summary"]
        cuts = [r["cut"] for r in s["results"] if isinstance(r["cut"], int)]
        for c in cuts:
            if c in ran:
                sys.exit(f"cut {c} was run by two lanes: {ran[c]} and {p}")
            ran[c] = p
        m["lanes"].append({"state": p, "cuts": [min(cuts, default=0), max(cuts, default=0)],
                           "command": s.get("command"), "image": s.get("image"),
                           "seconds": sum(x.get("seconds", 0) for x in s.get("pieces", []))})
        for k in COUNTS:
            m[k] += s[k]
        for k in KINDS:
            m["cuts"][k] += s["cuts"][k]
            m["struck_a_running_backup"][k] += s["struck_a_running_backup"][k]
        for k in ("pieces", "boots", "results", "failures"):
            m[k] += s.get(k, [])
        m["channel_lines_resent"] += st.get("lines_lost", 0)
        for k, v in st.get("timing", {}).items():
            m["seconds_by_command"][k] = m["seconds_by_command"].get(k, 0) + round(v)
    m["results"].sort(key=cut_no)
    m["failures"].sort(key=cut_no)
    m["pieces"].sort(key=lambda x: x["started"])
    m["duration_s"] = sum(x.get("seconds", 0) for x in m["pieces"])
    # Wall time: the pieces' spans joined (lanes run at the same time).
    spans = sorted((calendar.timegm(time.strptime(x["started"], "%Y-%m-%dT%H:%M:%SZ")), x.get("seconds", 0))
                   for x in m["pieces"])
    m["wall_s"], end = 0, None
    for t, d in spans:
        m["wall_s"] += max(0, t + d - max(t, end)) if end is not None else d
        end = max(end or 0, t + d)
    m["missing"] = [n for n in range(1, len(m["plan"]) + 1) if n not in ran]
    m["passed"], m["failed"] = tally(m["results"])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(m, f, indent=2)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table(m))
    if m["missing"]:
        print(f"not run yet: {len(m['missing'])} of {len(m['plan'])} cuts (from cut {m['missing'][0]})")
    print(f"{m['passed']} passed, {m['failed']} failed")
    sys.exit(0 if m["failed"] == 0 and not m["missing"] else 1)


def spawn_lane(argv, log_path, prefix):
    """Starts one lane's driver (this file, in another process) with its output in log_path and
    relayed to ours, each line after `prefix`. Returns the process; wait() gives its status."""
    f = open(log_path, "w")
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace",
                         bufsize=1)

    def relay():
        for line in p.stdout:
            f.write(line)
            f.flush()
            print(prefix + line, end="", flush=True)
        f.close()

    t = threading.Thread(target=relay, daemon=True)
    t.start()
    waited = p.wait

    def wait():
        rc = waited()
        t.join()
        return rc

    p.wait = wait
    return p


def split(n, k):
    """Cuts 1..n in k contiguous ranges whose sizes differ by at most one."""
    k = max(1, min(k, n))
    bounds, lo = [], 1
    for i in range(k):
        size = n // k + (1 if i < n % k else 0)
        bounds.append((lo, lo + size - 1))
        lo += size
    return bounds


def run_lanes(c, args):
    """A new campaign (its plan already drawn into c.summary) run as args.lanes lanes at once,
    each the driver with `--continue` of the plan and `--lane FIRST-LAST`, in OUT/lane-N (its own
    VM, disks and set-up; the image and kernel of OUT shared, read-only), then --merge of their
    states into OUT/summary.json (for a long campaign in one command; for --quick two lanes were no
    faster than one here, docs/testing.md). Exit status 0 only when every cut ran and passed."""
    plan = c.summary["plan"]
    os.makedirs(c.work, exist_ok=True)
    c.save(1)  # the plan and seed the lanes continue from (nothing run yet)
    plan_state = os.path.join(args.out, "plan.json")
    os.replace(os.path.join(c.work, "state.json"), plan_state)
    lanes = split(len(plan), args.lanes)
    log(args.out, f"seed {c.seed}: {len(plan)} cuts in {len(lanes)} lanes at once: "
                  + ", ".join(f"cuts {lo}-{hi} in lane-{i}" for i, (lo, hi) in enumerate(lanes, 1)))
    procs = []
    for i, (lo, hi) in enumerate(lanes, 1):
        lane_out = os.path.join(args.out, f"lane-{i}")
        os.makedirs(os.path.join(lane_out, "work"), exist_ok=True)
        for name in ("root.img", "vmlinuz", "initrd.img", "root.stamp"):
            src, dst = os.path.join(args.out, name), os.path.join(lane_out, name)
            if os.path.lexists(dst):
                os.unlink(dst)
            if os.path.exists(src):
                os.symlink(os.path.abspath(src), dst)
        argv = ["--out", lane_out, "--continue", plan_state, "--lane", f"{lo}-{hi}"]
        if args.budget is not None:
            argv += ["--budget", str(args.budget)]
        procs.append((i, lane_out, spawn_lane(argv, os.path.join(lane_out, "driver.out"), f"[lane-{i}] ")))
    states = []
    for i, lane_out, p in procs:
        rc = p.wait()
        state = os.path.join(lane_out, "work", "state.json")
        if os.path.exists(state):
            states.append(state)
        else:
            log(args.out, f"lane-{i} left no state (status {rc}): its set-up failed; see {lane_out}/driver.out")
        if rc != 0:
            log(args.out, f"lane-{i} ended with status {rc}")
    if not states:
        print(f"0 passed, {len(plan)} failed")
        sys.exit(1)
    merge(args.out, states)


def table(m):
    """The merged campaign as a Markdown table for docs/reliability.md: a row per fault kind, then
    the totals."""
    rows = ["| fault | cuts | struck a running backup | passed | failed |", "|---|---|---|---|---|"]
    for k in KINDS:
        rs = [r for r in m["results"] if r.get("kind") == k]
        ok = sum(1 for r in rs if r["ok"])
        rows.append(f"| {k} | {len(rs)} | {m['struck_a_running_backup'][k]} | {ok} | {len(rs) - ok} |")
    other = [r for r in m["results"] if r.get("kind") not in KINDS]
    if other:
        rows.append(f"| (resume checks) | {len(other)} | | {sum(1 for r in other if r['ok'])} | "
                    f"{sum(1 for r in other if not r['ok'])} |")
    rows.append(f"| **all** | **{len(m['results'])}** | **{sum(m['struck_a_running_backup'].values())}** | "
                f"**{m['passed']}** | **{m['failed']}** |")
    h, mi = divmod(m["duration_s"] // 60, 60)
    wh, wm = divmod(int(m["wall_s"]) // 60, 60)
    rows += ["", f"Seed {m['seed']}; {len(m['lanes'])} lane(s), {len(m['pieces'])} pieces, {h} h {mi} min of "
             f"pieces in all ({wh} h {wm} min of wall time); {m['backups_checked']} backups checked, {m['backups_lost']} lost, "
             f"{m['incomplete_final']} incomplete under a final name, {m['recoveries_failed']} failed "
             f"recoveries; cuts not run yet: {len(m['missing'])}.", ""]
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cuts", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--kinds")
    ap.add_argument("--resume", action="store_true",
                    help="go on with the campaign a --budget (or an interruption) stopped")
    ap.add_argument("--continue", dest="cont", metavar="STATE",
                    help="go on with the campaign whose state.json is STATE (kept from a piece on "
                         "a machine that is gone) on fresh disks: a new set-up, then its next cut")
    ap.add_argument("--lane", metavar="FIRST-LAST",
                    help="with --continue: begin a new lane of that campaign, its cuts FIRST to LAST, "
                         "beside the lane that goes on from STATE (which must stop before FIRST: "
                         "--last); --merge adds the lanes' states up")
    ap.add_argument("--last", type=int,
                    help="stop after this cut of the plan (kept in the state for later pieces)")
    ap.add_argument("--merge", nargs="+", metavar="STATE",
                    help="add up the kept states of one campaign's lanes into OUT/summary.json")
    ap.add_argument("--lanes", type=int,
                    help="a new campaign (--quick or --cuts) run as this many lanes at once, each "
                         "its own VM, merged into OUT/summary.json")
    ap.add_argument("--budget", type=float,
                    help="minutes: after the first cut that ends past them, power the VM off "
                         "cleanly and stop; --resume goes on from there")
    args = ap.parse_args()
    if args.merge:
        merge(args.out, args.merge)
    if args.lane and not args.cont:
        sys.exit("--lane goes with --continue (a new lane starts from a kept state, on fresh disks)")
    if args.last is not None and not (args.cont or args.resume):
        sys.exit("--last goes with --continue or --resume")
    if args.last is not None and (args.lane or args.last < 1):
        sys.exit("--last N: N >= 1, and not with --lane (a lane's last cut is its LAST)")
    kinds = args.kinds.split(",") if args.kinds else KINDS
    for k in kinds:
        if k not in KINDS:
            sys.exit(f"unknown fault kind {k}; known: {', '.join(KINDS)}")
    if args.lanes is not None and (args.cont or args.resume or args.last is not None or args.lanes < 1):
        sys.exit("--lanes K (K >= 1) starts a new campaign: not with --continue, --resume or --last")
    if args.cont and (args.resume or args.quick or args.cuts or args.kinds):
        sys.exit("--continue takes the plan from its state: not with --resume, --quick, --cuts or --kinds")
    c = Campaign(args)
    started = time.time()
    if args.cont:
        first = c.load(args.cont)
        if args.seed is not None and args.seed != c.seed:
            sys.exit(f"the campaign to continue has seed {c.seed}, not {args.seed}")
        plan = c.summary["plan"]
        if args.lane:
            try:
                lo, hi = (int(x) for x in args.lane.split("-"))
            except ValueError:
                sys.exit(f"--lane {args.lane}: give the first and last cut, as 121-200")
            bound = c.summary.get("last") or len(plan)
            if not first <= lo <= hi <= bound:
                sys.exit(f"--lane {args.lane}: the campaign in {args.cont} has cuts {first} to {bound} "
                         "still to run; a lane takes some of them, first to last")
            c.lane(lo, hi)
            first = lo
            log(args.out, f"seed {c.seed}: a new lane of the campaign in {args.cont}, its cuts {lo} to {hi}, "
                          "on fresh disks (draws seeded from the seed and the lane's first cut)")
        else:
            log(args.out, f"seed {c.seed}: continuing at cut {first} of {len(plan)} on fresh disks ({args.cont})")
    elif args.resume:
        if not os.path.exists(os.path.join(c.work, "state.json")):
            sys.exit(f"nothing to resume: no {os.path.join(c.work, 'state.json')} (start a campaign first)")
        first = c.load()
        if args.seed is not None and args.seed != c.seed:
            sys.exit(f"the campaign to resume has seed {c.seed}, not {args.seed}")
        plan = c.summary["plan"]
        log(args.out, f"seed {c.seed}: resuming at cut {first} of {len(plan)}")
    else:
        if os.path.exists(os.path.join(args.out, "campaign.log")):
            os.rename(os.path.join(args.out, "campaign.log"), os.path.join(args.out, "campaign.log.old"))
        log(args.out, f"seed {c.seed} (scripts/lab --seed {c.seed} repeats these kinds and instants)")
        if args.quick:
            plan = [k for k in kinds for _ in range(2)]
            c.rng.shuffle(plan)
        else:
            n = args.cuts or 200
            # Every kind at least n/10 times, power cuts at least 30 %, the rest drawn.
            plan = [k for k in kinds for _ in range(max(1, n // 10))]
            if "power-cut" in kinds:
                plan += ["power-cut"] * max(0, int(n * 0.3) - plan.count("power-cut"))
            while len(plan) < n:
                plan.append(c.rng.choice(kinds))
            plan = plan[:n] if len(plan) > n else plan
            c.rng.shuffle(plan)
        c.summary["plan"] = plan
        c.summary["pieces"] = []
        first = 1
        if args.lanes and args.lanes > 1:
            run_lanes(c, args)
    last = min(c.summary.get("last") or len(plan), len(plan)) if (args.cont or args.resume) else len(plan)
    if args.last is not None:
        # Only ever lower: the cuts past a bound belong to another lane.
        if args.last > last:
            sys.exit(f"--last {args.last}: the plan has {len(plan)} cuts" if last == len(plan) else
                     f"--last {args.last}: this lane stops at cut {last}; the cuts past it belong to "
                     "another lane")
        last = c.summary["last"] = args.last
    if first > last:
        sys.exit(f"the campaign (or lane) has run all its cuts, to cut {last}")
    draws = c.rng.getstate()
    piece = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "first_cut": first,
             "fresh_disks": not args.resume, "command": " ".join(sys.argv)}
    c.summary["pieces"].append(piece)
    paused = False
    ran = 0
    next_cut = first
    try:
        if args.resume:
            # The disks and the root image as the last piece left them (powered off after a
            # whole cut, or killed mid-cut: then that cut runs again, and the check below is the
            # check after an unplanned power cut).
            c.boot()
            c.resume()
            res = c.check(f"resume at cut {first}", restore=False)
            if res["problems"]:
                r = {"cut": f"resume {first}", "kind": "resume", "ok": False, "problems": res["problems"]}
                c.summary["results"].append(r)
                c.summary["failures"].append(r)
                log(args.out, f"resume: FAIL {res['problems'][:3]}")
            c.resume()
        else:
            c.setup()
            c.typical = 8.0
            t0 = time.time()
            rc, _ = c.backup()
            c.typical = max(2.0, time.time() - t0)
            log(args.out, f"a backup onto {len(DISKS)} disks takes {c.typical:.1f} s: instants are drawn from [0, that]")
            if args.cont:
                # The set-up's runs drew their rows from the generator: the cuts go on with the
                # draws they would have had in one go.
                c.rng.setstate(draws)
            piece["seconds"] = round(time.time() - started)
            c.save(first)
        for n, kind in enumerate(plan, 1):
            if n < first:
                continue
            if n > last:
                break
            ran += 1
            try:
                c.cut(n, kind)
            except Exception as e:  # noqa: BLE001 - a cut that breaks the lab is a failure
                res = {"cut": n, "kind": kind, "ok": False, "problems": [f"lab error: {e}"]}
                c.summary["results"].append(res)
                c.summary["failures"].append(res)
                log(args.out, f"cut {n}: FAIL lab error: {e}")
                try:
                    c.vm.kill()
                except Exception:  # noqa: BLE001
                    pass
                c.boot()
                c.resume()
            piece["seconds"], piece["cuts_run"] = round(time.time() - started), ran
            next_cut = n + 1
            c.save(next_cut)
            if args.budget is not None and n < last and time.time() - started > args.budget * 60:
                paused = True
                log(args.out, f"paused after cut {n} (this run goes to cut {last}): --resume, or --continue "
                              "of work/state.json on fresh disks, goes on")
                break
    except Exception as e:  # noqa: BLE001
        c.summary["error"] = str(e)
        log(args.out, f"the lab stopped: {e}")
    finally:
        if c.vm:
            c.vm.poweroff()
    piece["seconds"] = round(time.time() - started)
    piece["cuts_run"] = ran
    c.summary["duration_s"] = sum(p.get("seconds", 0) for p in c.summary["pieces"])
    if "error" not in c.summary and ran:
        c.save(next_cut)  # the piece's whole time, the power-off included
    c.summary["paused"] = paused
    s = c.write()
    if "error" in s:
        s["failed"] += 1
    if paused:
        print(f"paused before cut {next_cut} (this run goes to cut {last})")
    print(f"{s['passed']} passed, {s['failed']} failed")
    sys.exit(0 if s["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
