#!/usr/bin/env python3
"""push.py: send NDJSON events to zhilid, pipelined (Python 3 stdlib only).

    push.py [-s SOCKET] [-w WINDOW] [FILE]

Reads one JSON event per line from FILE (default: standard input) and
sends them over zhilid's Unix socket without waiting for each answer, but
with at most WINDOW lines unanswered.  zhilid answers every non-blank line
exactly once, in order, so the answers are matched to input lines by
counting.  Each refused line is printed on stderr as FILE:LINE: CODE: MESSAGE,
and a summary on stdout.  Exit status: 0 if every line was accepted, 1 if
one was refused or the connection failed (2 for bad arguments).
"""
import argparse
import collections
import json
import os
import socket
import sys
import threading


def main():
    ap = argparse.ArgumentParser(description="Send NDJSON events to zhilid.")
    ap.add_argument("-s", dest="socket", default="run/zhilid.sock",
                    help="the daemon's socket (default: run/zhilid.sock)")
    ap.add_argument("-w", dest="window", type=int, default=100,
                    help="lines sent but not yet answered, at most")
    ap.add_argument("file", nargs="?", default="-")
    a = ap.parse_args()
    name = "<stdin>" if a.file == "-" else a.file
    try:
        src = sys.stdin.buffer if a.file == "-" else open(a.file, "rb")
    except OSError as e:
        sys.exit("push.py: %s: %s" % (a.file, e.strerror))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(a.socket)
    except OSError as e:
        sys.exit("push.py: cannot connect to %s: %s" % (a.socket, e.strerror))

    window = threading.Semaphore(max(1, a.window))
    inflight = collections.deque()      # input line numbers awaiting answers
    lock = threading.Lock()
    read_all = threading.Event()        # the sender reached the input's end
    done = 0                            # the last input line answered

    def sender():
        # The writer runs beside the reader: neither side can stall the
        # other on a full socket buffer, and the window bounds memory.
        try:
            for n, raw in enumerate(src, 1):
                line = raw.rstrip(b"\n")
                if not line.rstrip(b"\r").strip(b" \t"):
                    continue            # blank: zhilid would not answer it
                window.acquire()
                with lock:
                    inflight.append(n)
                sock.sendall(line + b"\n")
            read_all.set()
            sock.shutdown(socket.SHUT_WR)   # zhilid answers the rest, closes
        except OSError:
            pass                        # the reader reports the lost lines

    threading.Thread(target=sender, daemon=True).start()
    count = collections.Counter()
    try:
        for answer in sock.makefile("rb"):
            with lock:
                n = done = inflight.popleft()
            window.release()
            r = json.loads(answer)
            if r.get("ok"):
                count["duplicates" if r.get("duplicate") else "accepted"] += 1
                count["alerts"] += len(r.get("alerts", []))
            else:
                count["errors"] += 1
                e = r.get("error", {})
                print("%s:%d: %s: %s" % (name, n, e.get("code"),
                                         e.get("message")), file=sys.stderr)
    except OSError:
        pass                            # a reset: reported below
    print("%(accepted)d accepted, %(duplicates)d duplicates, "
          "%(errors)d errors, %(alerts)d alerts" % count)
    with lock:
        if inflight or not read_all.is_set():
            # zhilid closed first (stopped, or crashed): what it did not
            # answer may not be applied; event ids make resending it safe.
            print("push.py: connection closed by zhilid; resend from %s:%d"
                  % (name, inflight[0] if inflight else done + 1),
                  file=sys.stderr)
            return 1
    return 1 if count["errors"] else 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)    # not sys.exit: the sender may be blocked on input
