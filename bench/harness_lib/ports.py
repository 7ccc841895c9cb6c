"""Loopback ports for the benchmark harness: finding free ones and probing them.

Everything listens on 127.0.0.1 on ports picked here (free_port(), and free_bore_port() inside
bore's fixed range); the contenders and scenarios then wait for a port to listen (wait_port())
or for a 200 through it (http_ok() with retries while starting up; get_once() and poll_200()
without sleeping, for timing start-up and reconnect).
"""

from __future__ import annotations

import socket
import subprocess
import time

from .config import HOST


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if port_open(port):
            return True
        time.sleep(0.05)
    return False


def free_bore_port(lo: int, exclude: set | None = None) -> int:
    for port in range(lo + 1, lo + 500):
        if exclude and port in exclude:
            continue
        try:
            with socket.socket() as s:
                s.bind((HOST, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port for bore")


def http_ok(port: int, host: str, timeout: float = 10, path: str = "/1k.bin") -> bool:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = s.recv(64)
                if data.startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def get_once(port: int, host: str, path: str = "/1k.bin", timeout: float = 1) -> bool:
    """One GET; True on a 200 (no retry, no sleep: for timing start-up)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def poll_200(target: tuple[int, str], proc: subprocess.Popen | None, timeout: float) -> float | None:
    """Seconds until `target` answers 200 (polled every 10 ms), None if it did not in time or
    `proc` exited."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            return None
        if get_once(*target):
            return time.time() - t0
        time.sleep(0.01)
    return None
