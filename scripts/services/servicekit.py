"""What every service script (scripts/kafka, scripts/postgres, scripts/debezium) shares: exit codes
and errors, log lines, the state directory and its lock, the start marker in a service's log,
loopback ports, the --watch-pid watchdog and the command-line frame.

A script names itself once (``Service("kafka", __file__, noun="broker", product="Kafka")``); the
name gives the log prefix, the state sub-folder, the info file and the start marker.

Standard library only: the scripts run with the system python3, before any virtualenv exists.
"""

import argparse
import fcntl
import json
import os
import socket
import subprocess
import sys
import time

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_MISSING_TOOL = 2  # the pytest fixtures skip (outside CI) on this one only
EXIT_STOPPED = 3


class Fail(Exception):
    def __init__(self, message, code=EXIT_FAIL):
        super().__init__(message)
        self.code = code


class Service:
    """One script's identity: `name` (log prefix, state sub-folder, file names), the `noun` of what
    it runs (broker, server, worker: the watchdog's --<noun>-pid) and the `product` (messages)."""

    def __init__(self, name, script, noun, product):
        self.name = name
        self.script = os.path.abspath(script)
        # The checkout (or engine/_bundled in a wheel): scripts/<name> sits one level below it.
        self.root = os.path.dirname(os.path.dirname(self.script))
        self.noun = noun
        self.product = product
        self.start_marker = "===== scripts/%s start" % name

    def log(self, msg):
        print(self.name + ": " + msg, file=sys.stderr, flush=True)

    def log_stopped(self, graceful, started):
        self.log("stopped %s in %.1fs" % ("gracefully" if graceful else "forcibly", time.monotonic() - started))

    def state_dir(self, args):
        if getattr(args, "state_dir", None):
            return os.path.abspath(args.state_dir)
        base = os.environ.get("VELOCITY_STATE_DIR") or os.path.join(self.root, ".services")
        return os.path.abspath(os.path.join(base, self.name))

    def read_since_marker(self, path, max_bytes=4 * 1024 * 1024):
        """The end of a log from this start's marker on ('' when there is no log)."""
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        marker = data.rfind(self.start_marker)  # only this start's output
        return data[marker:] if marker >= 0 else data

    def tail(self, path, lines=30, max_bytes=64 * 1024):
        data = self.read_since_marker(path, max_bytes)
        if not data:
            return "(no log at %s)" % path
        return "\n".join(data.splitlines()[-lines:])

    def write_start_marker(self, logf, details):
        """The line tail() and read_since_marker() start from; `logf` is open in binary mode."""
        logf.write(("\n%s %s (%s)\n" % (self.start_marker, time.strftime("%Y-%m-%d %H:%M:%S"), details)).encode())
        logf.flush()


class State:
    """A service's state directory: its info file (<name>.json) and its lock."""

    def __init__(self, service, directory):
        self.service = service
        self.dir = directory
        self.info_file = os.path.join(directory, service.name + ".json")
        self.lock_file = os.path.join(directory, ".lock")

    def ensure(self):
        os.makedirs(self.dir, exist_ok=True)
        # Keep the state out of git when it sits inside the repository (.services/).
        parent = os.path.dirname(self.dir)
        if os.path.basename(parent) == ".services":
            ignore = os.path.join(parent, ".gitignore")
            if not os.path.exists(ignore):
                with open(ignore, "w") as f:
                    f.write("# local service state written by scripts/%s\n*\n" % self.service.name)

    def read_info(self):
        try:
            with open(self.info_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def write_info(self, info):
        with open(self.info_file + ".tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.replace(self.info_file + ".tmp", self.info_file)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as dead.
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        pass
    return True


def wait_until(ready, gone, late, timeout, every=0.25):
    """Poll a starting service: return what `ready()` returns once it is truthy. Each round first
    asks `gone()`, which returns a message once the process is gone (Fail with it), and after
    `timeout` seconds Fail with `late()` (the messages say what the log's last lines say)."""
    deadline = time.monotonic() + timeout
    while True:
        message = gone()
        if message:
            raise Fail(message)
        answer = ready()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise Fail(late())
        time.sleep(every)


class Lock:
    """An exclusive flock on `path`: one start/stop/watchdog at a time per state directory."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def run(cmd, timeout, what, env=None, cwd="/", timeout_message=None):
    """(exit code, stdout+stderr) of a command; Fail when it outlives `timeout` seconds."""
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise Fail(timeout_message or "%s took more than %ds" % (what, timeout)) from None
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# --------------------------------------------------------------------------- loopback ports


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def client_port(service, requested, env_var, default):
    """--port N, else $env_var, else `default`; 0 picks a free one. Fail when it is taken."""
    port = requested
    if port is None:
        port = int(os.environ.get(env_var) or default)
    if port == 0:
        return free_port()
    if port_in_use(port):
        raise Fail("port 127.0.0.1:%d is already in use (another %s?); choose one with --port N or %s, "
                   "or --port 0 for a free one" % (port, service.product, env_var))
    return port


# --------------------------------------------------------------------------- the --watch-pid watchdog


def start_watchdog(service, state_dir, watch_pid, pid):
    """Detached helper stopping the service once `watch_pid` (e.g. a pytest run) is gone."""
    subprocess.Popen([sys.executable, service.script, "_watch", "--state-dir", state_dir,
                      "--watch-pid", str(watch_pid), "--%s-pid" % service.noun, str(pid)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def guard(lock_file, watch_pid, pid, running_pid, stop):
    """The watchdog's loop: returns once `pid` is no longer the running one (stopped, or restarted
    by someone else: nothing to guard); calls stop() under the lock once `watch_pid` is gone."""
    while True:
        if running_pid() != pid:
            return EXIT_OK
        if not pid_alive(watch_pid):
            break
        time.sleep(1.0)
    with Lock(lock_file):
        if running_pid() == pid:
            stop()
    return EXIT_OK


# --------------------------------------------------------------------------- command line


class Commands:
    """The argparse frame of a script: `prog` scripts/<name>, every command with --state-dir."""

    def __init__(self, service, doc):
        self.service = service
        self.parser = argparse.ArgumentParser(prog="scripts/" + service.name, description=doc.split("\n")[0])
        self.sub = self.parser.add_subparsers(dest="command", required=True)

    def add(self, name, func, help=None):
        # A help of None would still list the command: the internal _watch passes none.
        p = self.sub.add_parser(name, help=help) if help is not None else self.sub.add_parser(name)
        folder = self.service.name
        p.add_argument("--state-dir", help="state directory (default: $VELOCITY_STATE_DIR/%s "
                       "or <repo>/.services/%s)" % (folder, folder))
        p.set_defaults(func=func)
        return p

    def add_watch(self, func):
        """The internal `_watch` command start_watchdog() runs."""
        p = self.add("_watch", func)
        p.add_argument("--watch-pid", type=int, required=True)
        noun = self.service.noun
        p.add_argument("--%s-pid" % noun, dest="service_pid", metavar="%s_PID" % noun.upper(), type=int,
                       required=True)
        return p

    def run(self, argv=None):
        args = self.parser.parse_args(argv)
        try:
            return args.func(args)
        except Fail as e:
            print("%s: error: %s" % (self.service.name, e), file=sys.stderr, flush=True)
            return e.code
        except KeyboardInterrupt:
            return 130
