#!/usr/bin/env python3
"""Runs one shell command in the lab's running VM over its debug channel (virtio-serial port
"dbg", served by the guest's lab-debug.service), for a person watching a campaign:

    tests/lab/dbg.py [--out target/lab] 'journalctl -u simdondar-backup -n 50'

Prints the command's output and exits with its status. The campaign's own channel is untouched."""
import argparse
import base64
import os
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "target", "lab"))
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("script")
    a = ap.parse_args()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(os.path.join(a.out, "work", "dbg.sock"))
    except OSError as e:
        sys.exit(f"no lab VM to talk to ({e}): is scripts/lab running?")
    rid = str(int(time.time()))
    s.settimeout(a.timeout + 30)
    s.sendall(f"{rid} {a.timeout} ".encode() + base64.b64encode(a.script.encode()) + b"\n")
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the VM closed the debug channel")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            parts = line.decode(errors="replace").split(" ", 2)
            if len(parts) == 3 and parts[0] == rid:
                sys.stdout.write(base64.b64decode(parts[2]).decode(errors="replace"))
                sys.exit(int(parts[1]))


if __name__ == "__main__":
    main()
