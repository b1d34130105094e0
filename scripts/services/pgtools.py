"""PostgreSQL's programs and the OS user that runs them, for scripts/postgres: the server binaries
(pg_ctl, initdb, postgres) and psql, and, when the script runs as root (PostgreSQL refuses to),
the unprivileged user the server runs as, with the commands and file ownership that takes.

Standard library only: the scripts run with the system python3, before any virtualenv exists.
"""

import glob
import os
import pwd
import shlex
import shutil

from servicekit import EXIT_MISSING_TOOL, Fail


def find_bin_dir():
    """Directory holding pg_ctl/initdb/postgres (the real one, not a PATH symlink)."""
    env = os.environ.get("VELOCITY_PG_BIN")
    candidates = []
    if env:
        candidates.append(env)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(os.path.dirname(os.path.realpath(which)))

    def version_key(path):
        try:
            return int(path.rstrip("/").split("/")[-2])
        except (ValueError, IndexError):
            return 0
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin"]
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("pg_ctl", "initdb", "postgres")):
            return d
    raise Fail("PostgreSQL server binaries (pg_ctl, initdb, postgres) not found; install "
               "PostgreSQL (Debian: apt-get install postgresql) or set VELOCITY_PG_BIN",
               EXIT_MISSING_TOOL)


def find_psql(bin_dir):
    candidate = os.path.join(bin_dir, "psql")
    if os.access(candidate, os.X_OK):
        return candidate
    psql = shutil.which("psql")
    if not psql:
        raise Fail("`psql` not found (Debian: apt-get install postgresql-client)",
                   EXIT_MISSING_TOOL)
    return psql


class OsUser:
    """Who runs the server: ourselves, or (when we are root) an unprivileged OS user."""

    def __init__(self):
        self.as_root = os.geteuid() == 0
        if not self.as_root:
            self.name = pwd.getpwuid(os.geteuid()).pw_name
            self.uid, self.gid = os.geteuid(), os.getegid()
            return
        name = os.environ.get("VELOCITY_PG_OS_USER") or "postgres"
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise Fail("running as root, and PostgreSQL refuses to run as root, but there is no "
                       "OS user %r to run it as (Debian's postgresql package creates `postgres`; "
                       "or `useradd --system postgres`, or set VELOCITY_PG_OS_USER)" % name,
                       EXIT_MISSING_TOOL) from None
        if pw.pw_uid == 0:
            raise Fail("VELOCITY_PG_OS_USER=%s is root; PostgreSQL refuses to run as root" % name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid

    def cmd(self, argv):
        if not self.as_root:
            return argv
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        if os.access(runuser, os.X_OK):
            return [runuser, "-u", self.name, "--"] + argv
        su = shutil.which("su")
        if not su:
            raise Fail("running as root but neither runuser nor su is available to drop to %r"
                       % self.name)
        return [su, "-s", "/bin/sh", self.name, "-c", " ".join(shlex.quote(a) for a in argv)]

    def chown(self, path):
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def can_reach(self, path):
        """True when every ancestor of `path` is searchable by this user (not by root)."""
        if not self.as_root:
            return True
        try:
            groups = {g for g in os.getgrouplist(self.name, self.gid)}
        except OSError:
            groups = {self.gid}
        p = os.path.abspath(path)
        while True:
            try:
                st = os.stat(p)
            except FileNotFoundError:
                st = None
            if st is not None:
                if st.st_uid == self.uid:
                    ok = st.st_mode & 0o100
                elif st.st_gid in groups:
                    ok = st.st_mode & 0o010
                else:
                    ok = st.st_mode & 0o001
                if not ok:
                    return False
            parent = os.path.dirname(p)
            if parent == p:
                return True
            p = parent
