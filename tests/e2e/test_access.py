"""Access control through SO_PEERCRED (zhilid(8)), with clients
that really run as other users: a child process drops to another uid
(keeping gid 0, the socket file's group, so that mode 0660 lets it
connect) and reports what the daemon answered.  Needs root, as CI runs;
skipped (reported as a pass with a note) otherwise."""

import json
import os
import stat
import subprocess
import sys

from harness import Daemon, check, cmd, upsert, T0, PING

# the other users cannot run a python that lives under /root
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": str(e)}))
    sys.exit(0)
f = s.makefile("rwb")
out = []
for line in sys.stdin:
    if not line.strip():
        continue
    try:
        f.write(line.encode())
        f.flush()
    except OSError:
        pass    # refused: read what the daemon said before it closed
    answer = f.readline()
    if not answer:
        break
    out.append(json.loads(answer))
print(json.dumps(out))
"""


def as_user(uid, gid, sock, requests):
    """Send requests over a new connection as uid:gid; the answers."""
    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    p = subprocess.run([PYTHON, "-c", CLIENT, sock],
                       input="".join(json.dumps(r) + "\n" for r in requests),
                       capture_output=True, text=True, timeout=20,
                       preexec_fn=drop)
    check(p.returncode == 0, "client as %d: %s" % (uid, p.stderr))
    return json.loads(p.stdout)


def open_dir(ctx):
    # the socket's folder must be searchable by the other users
    os.chmod(ctx.tmp, 0o711)


def code(r):
    return r.get("error", {}).get("code") if not r.get("ok") else "ok"


def test_roles_by_uid_user_and_gid(ctx):
    if os.geteuid() != 0:
        print("    (not root: cannot switch users; nothing to test)")
        return
    open_dir(ctx)
    access = ["{uid: self, roles: [push, read, admin]}",
              "{user: nobody, roles: [read]}",
              "{uid: 65533, roles: [push]}",
              "{gid: 4242, roles: [read]}"]
    with Daemon(ctx, access=access) as d:
        mode = stat.S_IMODE(os.stat(d.sock_path).st_mode)
        check(mode == 0o660, "socket mode %o, want 660" % mode)
        reqs = [PING, upsert("A1", {"age": 90}, id="a1", ts=T0),
                cmd("reload"), cmd("alerts")]
        # nobody: read only
        got = [code(r) for r in as_user(65534, 0, d.sock_path, reqs)]
        check(got == ["ok", "forbidden", "forbidden", "ok"],
              "nobody (read): %r" % got)
        # uid 65533: push only
        got = [code(r) for r in as_user(65533, 0, d.sock_path, reqs)]
        check(got == ["forbidden", "ok", "forbidden", "forbidden"],
              "uid 65533 (push): %r" % got)
        # a uid with no entry of its own (its gid 0 has none either)
        r = as_user(65532, 0, d.sock_path, reqs)
        check([code(x) for x in r] == ["forbidden"] * 4,
              "uid 65532 in group 0 with no entry: %r" % r)
        # only the push of 65533 was applied
        c = d.client()
        r = c.request(cmd("stats"))
        check(r["stats"]["events"] == 1, "events applied: %r" % r)


def test_group_entry_grants_roles(ctx):
    if os.geteuid() != 0:
        print("    (not root: cannot switch users; nothing to test)")
        return
    open_dir(ctx)
    # the socket file is root:root 0660, so a client of gid 0 can connect;
    # its supplementary groups do not matter, its primary gid does
    access = ["{uid: self, roles: [push, read, admin]}",
              "{gid: 0, roles: [read]}"]
    with Daemon(ctx, access=access) as d:
        got = [code(r) for r in as_user(65531, 0, d.sock_path,
                                         [PING, cmd("reload")])]
        check(got == ["ok", "forbidden"], "gid 0 (read): %r" % got)
        r = as_user(65531, 4242, d.sock_path, [PING])
        check(isinstance(r, dict) and "connect" in r,
              "a client outside the socket's group cannot connect: %r" % r)


def test_per_uid_cap(ctx):
    if os.geteuid() != 0:
        print("    (not root: cannot switch users; nothing to test)")
        return
    open_dir(ctx)
    access = ["{uid: self, roles: [push, read, admin]}",
              "{user: nobody, roles: [read]}"]
    with Daemon(ctx, access=access,
                conf_extra="limits: {max_clients: 50, max_clients_per_uid: 2,"
                " max_line_bytes: 65536, max_output_bytes: 1048576}") as d:
        own = [d.client() for _ in range(2)]   # root's own two
        for c in own:
            check(c.request(PING).get("ok") is True, "root client")
        # nobody holds two connections open, the third is refused
        holder = subprocess.Popen(
            [PYTHON, "-c", r"""
import socket, sys, time
ss = []
for i in range(2):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b'{"cmd":"ping"}\n')
    s.recv(4096)
    ss.append(s)
print("held", flush=True)
time.sleep(30)
""", d.sock_path], stdout=subprocess.PIPE, text=True,
            preexec_fn=lambda: (os.setgroups([]), os.setgid(0),
                                os.setuid(65534)))
        try:
            check(holder.stdout.readline().strip() == "held",
                  "nobody could not open two connections")
            r = as_user(65534, 0, d.sock_path, [PING])
            check(len(r) == 1 and code(r[0]) == "unavailable",
                  "third connection of nobody: %r" % r)
            for c in own:
                check(c.request(PING).get("ok") is True,
                      "root still served")
        finally:
            holder.kill()
            holder.wait()


def test_supplementary_group(ctx):
    """A group entry also matches a user who is in that group as a
    supplementary group (usermod -aG, as contrib/zhilid.sysusers tells
    operators to do), not only as the primary one SO_PEERCRED reports."""
    if os.geteuid() != 0:
        print("    (not root: cannot switch users; nothing to test)")
        return
    import shutil
    if shutil.which("groupadd") is None:
        print("    (no groupadd: nothing to test)")
        return
    open_dir(ctx)
    group = "zhtest%d" % os.getpid()
    subprocess.run(["groupadd", group], check=True)
    try:
        subprocess.run(["usermod", "-aG", group, "nobody"], check=True)
        access = ["{uid: self, roles: [push, read, admin]}",
                  "{group: %s, roles: [read]}" % group]
        with Daemon(ctx, access=access) as d:
            got = [code(r) for r in as_user(65534, 0, d.sock_path,
                                             [PING, cmd("reload")])]
            check(got == ["ok", "forbidden"],
                  "nobody, a supplementary member of %s: %r" % (group, got))
            got = [code(r) for r in as_user(65533, 0, d.sock_path, [PING])]
            check(got == ["forbidden"], "uid 65533, not a member: %r" % got)
    finally:
        subprocess.run(["groupdel", group])
