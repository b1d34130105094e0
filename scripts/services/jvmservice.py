"""A service that is one JVM (scripts/kafka's broker, scripts/debezium's Kafka Connect worker):
finding java and Maven, resolving a class path with Maven once and caching it in the state
directory, starting the JVM in a process group of its own with a pid file, and stopping it
(stop, the --watch-pid watchdog) by signalling that group.

Standard library only: the scripts run with the system python3, before any virtualenv exists.
"""

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time

from servicekit import EXIT_MISSING_TOOL, EXIT_OK, Fail, Lock, State, guard, pid_alive, run, start_watchdog


class JvmState(State):
    """The state directory of a JVM service: pid file, log, cached class paths. `main_class` and
    `config_file` (in the JVM's command line) tell our JVM from another process with its pid."""

    def __init__(self, service, directory, log_name, main_class, config_name):
        super().__init__(service, directory)
        self.pid_file = os.path.join(directory, service.name + ".pid")
        self.log_file = os.path.join(directory, log_name)
        self.main_class = main_class
        self.config_file = os.path.join(directory, config_name)

    def classpath_file(self, version):
        return os.path.join(self.dir, "classpath-%s.txt" % version)

    def read_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running_pid(self):
        """The JVM's pid when it is alive and really is ours, else None."""
        pid = self.read_pid()
        if pid is None or not pid_alive(pid):
            return None
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            return pid  # no /proc (not Linux): trust the pid file
        if self.main_class.encode() in cmd and self.config_file.encode() in cmd:
            return pid
        return None

    def clear_pid(self):
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- java and Maven


def find_java(product):
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    java = shutil.which("java")
    if not java:
        raise Fail("`java` not found (install a JDK 17+ or set JAVA_HOME); %s cannot run" % product,
                   EXIT_MISSING_TOOL)
    return java


def require_java(java, minimum, who):
    """Fail (missing tool) when `java -version` names a major version below `minimum`."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if m:
        major = int(m.group(1))
        if major == 1 and m.group(2):  # "1.8.0_x" is Java 8
            major = int(m.group(2))
        if major < minimum:
            raise Fail("%s is Java %d; %s need Java %d+" % (java, major, who, minimum), EXIT_MISSING_TOOL)


def find_mvn(what):
    mvn = os.environ.get("VELOCITY_MVN") or shutil.which("mvn")
    if not mvn:
        raise Fail("`mvn` not found (install Maven 3); it is needed once to fetch %s from Maven Central" % what,
                   EXIT_MISSING_TOOL)
    return mvn


def maven_lock_file():
    """A lock beside the local Maven repository: two Maven runs filling ~/.m2 at once (two test
    workers starting their services on a fresh machine) can leave half-written artifacts."""
    directory = os.path.join(os.path.expanduser("~"), ".m2")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, ".velocity-flow-maven.lock")


def run_maven(cmd, cwd, timeout, what, timeout_message):
    """Run Maven (one at a time in ~/.m2: parallel test workers); Fail with its last lines."""
    with Lock(maven_lock_file()):
        code, out = run(cmd, timeout, "Maven", cwd=cwd, timeout_message=timeout_message)
    if code != 0:
        raise Fail("Maven could not resolve %s (exit %d):\n%s"
                   % (what, code, "\n".join(out.strip().splitlines()[-25:])))


def file_hash(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cached_classpath(cache, key):
    """The class path Maven wrote to `cache` when it was made for `key` and its jars are all there."""
    cp = read_text(cache)
    if cp and read_text(cache + ".key") == key and all(os.path.isfile(j) for j in cp.split(os.pathsep)):
        return cp
    return None


def read_classpath(path, what):
    cp = read_text(path)
    if not cp:
        raise Fail("Maven produced an empty class path for %s" % what)
    return cp


def store_classpath(tmp, cache, key):
    """Keep Maven's output `tmp` as `cache`, for `key` (see cached_classpath)."""
    os.replace(tmp, cache)
    with open(cache + ".key", "w") as f:
        f.write(key + "\n")


def java_opts(env_prefix, flags):
    """$VELOCITY_<env_prefix>_HEAP_OPTS (a small heap by default), `flags`, then
    $VELOCITY_<env_prefix>_JAVA_OPTS."""
    heap = os.environ.get("VELOCITY_%s_HEAP_OPTS" % env_prefix) or "-Xms128m -Xmx512m"
    extra = os.environ.get("VELOCITY_%s_JAVA_OPTS" % env_prefix, "")
    return heap.split() + list(flags) + extra.split()


# --------------------------------------------------------------------------- the JVM's process


def launch(st, cmd, details):
    """Start the JVM in a session of its own (its process group is what stop signals), output
    appended to the log after a start marker naming `details`; writes the pid file."""
    with open(st.log_file, "ab") as logf:
        st.service.write_start_marker(logf, details)
        proc = subprocess.Popen(cmd, cwd=st.dir, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    with open(st.pid_file, "w") as f:
        f.write("%d\n" % proc.pid)
    return proc


def settle(st, proc, wait_ready, watch_pid):
    """wait_ready() or kill the new JVM (and Fail); then the watchdog when --watch-pid asks."""
    try:
        wait_ready()
    except Fail:
        kill_group(st.service, proc.pid, 10)
        st.clear_pid()
        raise
    if watch_pid:
        start_watchdog(st.service, st.dir, watch_pid, proc.pid)


def kill_group(service, pid, timeout):
    """SIGTERM the JVM's process group, wait up to `timeout` s, then SIGKILL it."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return True
    if pgid != pid:  # we always start the JVM as a session leader; be conservative
        pgid = None

    def send(sig):
        try:
            if pgid is not None:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    service.log("still running after %ds; sending SIGKILL" % timeout)
    send(signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    return False


def _reap(pid):
    """Collect the JVM when it is our child (stop right after start), so it is not a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError as e:
        if e.errno != errno.ECHILD:
            raise


def stop(st, timeout):
    """The `stop` command: prints "stopped" whether or not the JVM was running."""
    service = st.service
    if not os.path.isdir(st.dir):
        print("stopped")
        return EXIT_OK
    with Lock(st.lock_file):
        pid = st.running_pid()
        if pid is None:
            st.clear_pid()
            print("stopped")
            return EXIT_OK
        service.log("stopping %s (pid %d) ..." % (service.product, pid))
        started = time.monotonic()
        graceful = kill_group(service, pid, timeout)
        st.clear_pid()
        service.log_stopped(graceful, started)
        print("stopped")
        return EXIT_OK


def watch(st, watch_pid, pid):
    """The `_watch` command: stop the JVM `pid` once `watch_pid` has exited."""
    service = st.service

    def stop_it():
        with open(st.log_file, "a") as f:
            f.write("===== scripts/%s: pid %d is gone, stopping the %s\n" % (service.name, watch_pid, service.noun))
        kill_group(service, pid, 30)
        st.clear_pid()

    return guard(st.lock_file, watch_pid, pid, st.running_pid, stop_it)
