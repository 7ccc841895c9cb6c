"""Processes of the benchmark harness: start, stop and bounded runs, and what /proc says of them.

Every process a scenario starts goes through start(), which puts it in its own process group,
logs its output to WORK/<name>.log and records it both in PROCS (stopped by stop_all() at exit)
and in PIDFILE (so bench/run can end those groups even when the harness was killed). The /proc
readers (CPU ticks, context switches, RSS) and noise() (load and concurrent compilers) are the
measurements taken of those processes; log(), have() and write() are the small helpers all
modules share. PROCS is the one list of started processes for the whole run: it is only
appended to and cleared, never rebound.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import KEEP, PIDFILE, WORK

# Every process started, in order (name, process); stop_all() stops them in reverse at exit.
PROCS: list[tuple[str, subprocess.Popen]] = []


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def start(name: str, argv: list[str], **kw) -> subprocess.Popen:
    """Starts a process in its own process group, output to WORK/<name>.log."""
    out = open(WORK / f"{name}.log", "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, **kw)
    PROCS.append((name, p))
    with open(PIDFILE, "a") as f:
        f.write(f"{p.pid}\n")
    return p


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
    # nginx workers or a tunnel client may outlive the leader for a moment
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_all() -> None:
    for _, p in reversed(PROCS):
        try:
            stop(p)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
    PROCS.clear()
    if not KEEP:
        shutil.rmtree(WORK, ignore_errors=True)


def on_signal(signum, _frame):
    log(f"signal {signum}: stopping everything")
    sys.exit(128 + signum)


def run(argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    """Runs a bounded command; a timeout is reported as a failed run, not an exception."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, 124, e.stdout or "", f"timeout after {timeout}s")


def with_children(pids: list[int]) -> set[int]:
    """pids and their direct children (nginx's workers)."""
    want = set(pids)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) in pids:
                    want.add(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return want


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime (clock ticks) of pids and of their direct children (nginx's workers)."""
    total = 0
    for p in with_children(pids):
        try:
            f = (Path(f"/proc/{p}/stat")).read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return total


def ctx_switches(pid: int) -> int:
    """Context switches (voluntary + involuntary) of all of pid's threads so far."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    for t in tasks:
        try:
            for line in (t / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def rss_kib(pid: int, tree: bool = False) -> int:
    """VmRSS of pid (and, with tree, of its direct children: nginx's workers)."""
    pids = [pid]
    if tree:
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(d.name))
                except (OSError, ValueError, IndexError):
                    pass
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def noise() -> dict:
    """Load average and how many compiler processes (other engineers' builds) are running."""
    n = 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
            except OSError:
                continue
            if comm in ("rustc", "cc1", "cc1plus", "ld", "cargo", "rust-lld") or comm.startswith("rustc"):
                n += 1
    return {"loadavg1": float(Path("/proc/loadavg").read_text().split()[0]), "compilers": n}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def wait_log(name: str, needle: str, proc: subprocess.Popen, timeout: float = 15) -> bool:
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if needle in (WORK / f"{name}.log").read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False
