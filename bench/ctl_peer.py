#!/usr/bin/env python3
"""Host end of the control-port benchmark (sv.test=ctlbench in tests/guest/init.c).

    ctl_peer.py [--timeout SEC] --socketpair -- VMM ARGS...   # '{fd}' in ARGS -> the guest's end
    ctl_peer.py [--timeout SEC] --connect SOCK -- VMM ARGS... # VMM listens on unix socket SOCK

Starts the VMM (stdout and stderr inherited), attaches to its control port and plays
the host side of the protocol; the numbers must match the guest's:
  1. send one byte (go): the guest starts only once the host end is attached;
  2. echo (CTL_WARMUP + CTL_RTTS) x CTL_MSG bytes back as they arrive (round trips);
  3. read and discard BENCH_BYTES (bulk, guest -> host), then send one byte (ack).
The guest times steps 2 and 3 itself and prints them; this peer prints, to stderr,
once the VMM has exited, its own view of step 3 (first to last byte received) as a cross-check. Exit status:
the VMM's, or 1 if the protocol broke.
"""
import argparse
import os
import socket
import subprocess
import sys
import time

CTL_MSG = 64
CTL_RTTS = 2000
CTL_WARMUP = 50
BENCH_BYTES = 64 << 20


def attach_connect(path, child, deadline):
    # QEMU (server=on,wait=off) creates the socket once it has started: retry till then.
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if child.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def play(s):
    """Returns (error, bulk MB/s as the host saw it)."""
    s.sendall(b"G")
    left = (CTL_WARMUP + CTL_RTTS) * CTL_MSG
    while left:
        d = s.recv(left)
        if not d:
            return "EOF during round trips (%d bytes short)" % left, None
        s.sendall(d)
        left -= len(d)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    left = BENCH_BYTES
    first = None
    while left:
        n = s.recv_into(view, min(len(buf), left))
        if not n:
            return "EOF during bulk (%d bytes short)" % left, None
        if first is None:
            first = time.monotonic()
        left -= n
    last = time.monotonic()
    s.sendall(b"A")
    return None, "%.1f" % (BENCH_BYTES / max(last - first, 1e-9) / 1e6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=600)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--socketpair", action="store_true")
    mode.add_argument("--connect", metavar="SOCK")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no VMM command")
    deadline = time.monotonic() + a.timeout
    if a.socketpair:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        cmd = [c.replace("{fd}", str(fd)) for c in cmd]
        child = subprocess.Popen(cmd, pass_fds=(fd,), stdin=subprocess.DEVNULL)
        theirs.close()  # so the VMM's exit reads as EOF here
        s = mine
    else:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        s = attach_connect(a.connect, child, deadline)
    err = "could not attach to the control port" if s is None else None
    seen = None
    if s is not None:
        s.settimeout(max(deadline - time.monotonic(), 1))
        try:
            err, seen = play(s)
        except (OSError, socket.timeout) as e:
            err = "socket: %s" % e
        if err:
            s.close()  # the guest then reads EOF instead of waiting out the timeout
            s = None
    try:
        rc = child.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        child.kill()
        rc = child.wait()
        print("ctl_peer: VMM timed out", file=sys.stderr)
    if s is not None:
        s.close()
    # Only now: the VMM shares stderr, so an earlier line could split the guest's.
    if err:
        print("ctl_peer: " + err, file=sys.stderr)
    if seen:
        print("ctl_peer: host saw bulk %s MB/s (first to last byte)" % seen, file=sys.stderr)
    return 1 if err else rc


if __name__ == "__main__":
    sys.exit(main())
