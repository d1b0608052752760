"""Folds `perf script -F comm,tid,period,ip,sym,dso` output (stdin) into stacks and sums it up.

    perf script ... | python3 scripts/lib/perf_fold.py FOLDED > SUMMARY

FOLDED gets one line per distinct stack, "comm;root;...;leaf samples" (the input of
inferno-flamegraph or flamegraph.pl). SUMMARY (stdout) gets the shares of the CPU time by thread
role, by stage of the backup and by leaf symbol. Used by scripts/profile (issue 17); the stage
rules below are the ones docs/performance.md "perf profile (issue 17)" reports.
"""

import collections
import re
import sys

HEADER = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s*$")
FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")
CHILDREN = ("mariadb-dump", "mysqldump", "mariadb", "mysql")
CLIENTS = ("mariadb", "mysql")
HASH = re.compile(r"::h[0-9a-f]{16}$")


def clean(sym, dso):
    sym = HASH.sub("", sym).replace(";", ":")
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    if sym in ("[unknown]", ""):
        base = dso.rsplit("/", 1)[-1]
        return base if base.startswith("[") else "[" + base + "]"
    return sym


def is_kernel(dso):
    return dso.startswith("[kernel") or dso == "[vdso]" or dso.endswith(".ko")


def role(comm, syms):
    if comm in ("mariadb-dump", "mysqldump"):
        return "mariadb-dump (child process)"
    if comm in CLIENTS:
        return "mariadb client (child processes: the agent's queries)"
    if comm.startswith("writer "):
        return "writer threads"
    if comm == "verifier":
        return "verifier threads"
    if comm.startswith("simdondar-back"):
        if any("ZSTDMT_compressionJob" in s or "POOL_thread" in s for s in syms):
            return "zstd worker threads"
        return "main thread"
    return "other: " + comm


def any_in(syms, *needles):
    return any(n in s for s in syms for n in needles)


def stage(comm, frames):
    """frames: [(sym, dso)] leaf first."""
    syms = [s for s, _ in frames]
    leaf, leaf_dso = frames[0] if frames else ("?", "?")
    kernel = is_kernel(leaf_dso)
    if comm in ("mariadb-dump", "mysqldump"):
        return "mariadb-dump: kernel" if kernel else "mariadb-dump: user"
    if comm in CLIENTS:
        return "mariadb client (child)"
    if any_in(syms, "ZSTDMT_compressionJob", "POOL_thread"):
        if kernel:
            return "zstd workers: kernel (faults, scheduling)"
        if "memcpy" in leaf or "memmove" in leaf:
            return "zstd workers: memcpy"
        return "zstd compression (workers)"
    if kernel:
        if any_in(syms, "fdatasync", "fsync", "sync_file_range"):
            return "kernel: fsync / sync_file_range"
        if any_in(syms, "ksys_write", "sys_write", "sys_pwrite", "vfs_write"):
            return "kernel: write"
        if any_in(syms, "ksys_read", "sys_read", "sys_pread", "vfs_read"):
            if comm == "verifier":
                return "kernel: read-back (O_DIRECT)"
            return "kernel: read (pipe from mariadb-dump)"
        if any_in(syms, "fadvise"):
            return "kernel: fadvise"
        if any_in(syms, "futex", "schedule", "sys_poll", "epoll"):
            return "kernel: futex / scheduling"
        if any_in(syms, "page_fault", "exc_page_fault", "mmap", "munmap", "brk"):
            return "kernel: page faults / mmap"
        return "kernel: other"
    if any_in(syms, "sha2::", "sha256", "Sha256"):
        return "SHA-256 (stored stream)"
    if any_in(syms, "xxhash_rust", "xxh3", "ContentHasher"):
        return "xxh3-128"
    if any_in(syms, "rowcount", "RowCounter"):
        return "row counter"
    if any_in(syms, "ZSTD_", "ZSTDMT_"):
        if "memcpy" in leaf or "memmove" in leaf:
            return "zstd: memcpy into job buffers (main)"
        return "zstd: other (main thread)"
    if "memcpy" in leaf or "memmove" in leaf:
        return "memcpy (other)"
    if any_in([leaf], "malloc", "free", "realloc", "_int_", "cfree"):
        return "allocator"
    return "other user code"


def main():
    folded_path = sys.argv[1]
    folded = collections.Counter()
    by_role = collections.Counter()
    by_stage = collections.Counter()
    by_leaf = collections.Counter()
    by_comm = collections.Counter()
    by_role_stage = collections.Counter()
    sha_impl = collections.Counter()
    total = 0

    def flush(head, frames):
        nonlocal total
        if head is None:
            return
        comm, _tid, _period = head
        syms = [s for s, _ in frames]
        total += 1
        r = role(comm, syms)
        by_role[r] += 1
        by_comm[comm] += 1
        st = stage(comm, frames)
        by_stage[st] += 1
        by_role_stage[(r, st)] += 1
        if frames:
            by_leaf[(frames[0][0], frames[0][1].rsplit("/", 1)[-1], r)] += 1
        for s in syms:
            if "sha256" in s.lower() or "sha2::" in s:
                sha_impl[s] += 1
                break
        folded[";".join([comm] + list(reversed(syms)))] += 1

    head, frames = None, []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush(head, frames)
            head, frames = None, []
            continue
        m = FRAME.match(line)
        if m and head is not None:
            frames.append((clean(m.group(2), m.group(3)), m.group(3)))
            continue
        m = HEADER.match(line)
        if m:
            flush(head, frames)
            head, frames = (m.group(1).strip(), m.group(2), m.group(3)), []
    flush(head, frames)

    with open(folded_path, "w") as f:
        for stack, n in sorted(folded.items()):
            f.write(f"{stack} {n}\n")

    if total == 0:
        print("no samples")
        return 1
    agent = total - sum(by_comm[c] for c in CHILDREN)

    def table(title, counter, limit=None):
        print(f"\n{title}")
        print(f"{'samples':>8} {'% all':>7} {'% agent':>8}  name")
        for k, n in counter.most_common(limit):
            name = k if isinstance(k, str) else "  ".join(k)
            child = "(child" in str(name) or str(name).startswith(("mariadb-dump:", "mariadb client"))
            in_agent = "" if child else f"{100 * n / agent:7.1f}%"
            print(f"{n:8d} {100 * n / total:6.1f}% {in_agent:>8}  {name}")

    print(f"samples: {total} (the agent's threads {agent}, its child processes {total - agent})")
    table("by process / thread role", by_role)
    table("by stage", by_stage)
    table("by thread role and stage", by_role_stage)
    table("top leaf symbols (self time): symbol  dso  role", by_leaf, 25)
    print("\nSHA-256 frames seen (the first sha-ish frame of each sample, leaf first):")
    for s, n in sha_impl.most_common(8):
        print(f"{n:8d}  {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
