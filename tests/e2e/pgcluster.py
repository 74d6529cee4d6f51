"""A throwaway PostgreSQL cluster for the tests (Python standard library only).

    c = Cluster()                   # initdb in a fresh folder under /tmp
    c.start()                       # pg_ctl start: a Unix socket, no TCP
    db = c.conninfo("s_test")       # a libpq string whose search_path is
                                    # schema s_test (created if missing)
    c.psql("SELECT 1", schema="s_test")
    c.stop("immediate"); c.start()  # a crash and a restart
    c.destroy()                     # stop and remove the folder

The cluster runs as an unprivileged user when the tests run as root
(PostgreSQL refuses root): ZHILID_PG_USER, else "nobody"; its folder is
theirs.  The binaries are those of ZHILID_PG_BIN, else the newest
/usr/lib/postgresql/N/bin (Debian's postgresql package).  The server is
tuned for tests: fsync off (nothing here survives the machine, only
processes), synchronous_commit as the server's default (on).
"""

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

_live = []      # every Cluster created in this process


def bindir():
    d = os.environ.get("ZHILID_PG_BIN")
    if d:
        return d
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                  key=lambda p: int(p.split("/")[4]))
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found "
                           "(install the postgresql package)")
    return os.path.dirname(dirs[-1])


def available():
    try:
        bindir()
        return True
    except RuntimeError:
        return False


def schema_for(path):
    """A schema name for a database path: the same path, the same schema."""
    return "t_" + hashlib.sha1(path.encode()).hexdigest()[:16]


class Cluster:
    @classmethod
    def attach(cls, folder):
        """A handle on a cluster another process started in folder."""
        c = cls.__new__(cls)
        c.bin = bindir()
        c.dir = folder
        c.data = os.path.join(folder, "data")
        c.log = os.path.join(folder, "server.log")
        c.user = None
        c.uid = c.gid = None
        if os.geteuid() == 0:
            st = os.stat(folder)
            c.uid, c.gid = st.st_uid, st.st_gid
        c.schemas = set()
        return c

    def __init__(self, settings=None, base=None):
        self.bin = bindir()
        self.dir = tempfile.mkdtemp(prefix="zhpg-", dir=base)
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.user = None
        self.uid = self.gid = None
        if os.geteuid() == 0:
            self.user = os.environ.get("ZHILID_PG_USER", "nobody")
            pw = pwd.getpwnam(self.user)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        self.settings = {
            "listen_addresses": "''",
            "unix_socket_directories": "'%s'" % self.dir,
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
        }
        self.settings.update(settings or {})
        self.schemas = set()
        self.owner = os.getpid()
        _live.append(self)
        self._run("initdb", "-D", self.data, "-U", "zhilid", "-A", "trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))

    def _demote(self):
        if self.uid is not None:
            os.setgid(self.gid)
            os.setgroups([])
            os.setuid(self.uid)

    def _run(self, prog, *args, check=True, input=None):
        r = subprocess.run([os.path.join(self.bin, prog)] + list(args),
                           stdin=subprocess.DEVNULL if input is None
                           else None, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           preexec_fn=self._demote, cwd=self.dir,
                           timeout=120)
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (prog, r.returncode,
                                                        out[-2000:]))
        return out

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t",
                  "60", "start")
        if "zhilid" not in self.psql(
                "SELECT datname FROM pg_database", db="postgres"):
            self.psql("CREATE DATABASE zhilid", db="postgres")
        return self

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60",
                  "stop", check=False)

    def running(self):
        out = self._run("pg_ctl", "-D", self.data, "status", check=False)
        return "server is running" in out

    def destroy(self):
        if os.path.isdir(self.data):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    def psql(self, sql, schema=None, db="zhilid", nulls=False):
        """Run sql; returns the rows as text, one a line, fields by |
        (NULL as \\N with nulls)."""
        if schema is not None:
            sql = "SET search_path = %s;\n%s" % (schema, sql)
        opts = ["-P", "null=\\N"] if nulls else []
        return self._run("psql", "-X", "-q", "-A", "-t", "-v",
                         "ON_ERROR_STOP=1", "-h", self.dir, "-U", "zhilid",
                         "-d", db, *opts, input=sql.encode())

    def base(self):
        """The libpq string of the database, without a schema."""
        return "host=%s dbname=zhilid user=zhilid" % self.dir

    def conninfo(self, schema):
        """A libpq string whose search_path is schema, created if missing."""
        if schema not in self.schemas:
            self.psql("CREATE SCHEMA IF NOT EXISTS %s" % schema)
            self.schemas.add(schema)
        return "%s options='-c search_path=%s'" % (self.base(), schema)


def cleanup_all():
    """Destroy the clusters this process created (not those of a parent
    it was forked from)."""
    for c in list(_live):
        if c.owner != os.getpid():
            continue
        try:
            c.destroy()
        except Exception:
            pass


def main(argv):
    """For the shell (tests/bench/pg.sh):
        pgcluster.py start [BASE [NAME=VALUE...]]  prints the folder
        pgcluster.py conninfo FOLDER SCHEMA        prints a libpq string
        pgcluster.py destroy FOLDER
    """
    if len(argv) >= 2 and argv[1] == "start":
        base = argv[2] if len(argv) > 2 else None
        settings = dict(a.split("=", 1) for a in argv[3:])
        c = Cluster(settings, base).start()
        _live.remove(c)         # it outlives this process
        print(c.dir)
    elif len(argv) == 4 and argv[1] == "conninfo":
        print(Cluster.attach(argv[2]).conninfo(argv[3]))
    elif len(argv) == 3 and argv[1] == "destroy":
        Cluster.attach(argv[2]).destroy()
    else:
        sys.stderr.write(main.__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
