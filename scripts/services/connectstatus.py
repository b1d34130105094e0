"""Is scripts/debezium's connector streaming? Kafka Connect's REST status of the connector and its
tasks, the replication slot on the source database (through psql), and the worker's log since
this start (the snapshot-over markers, the ERROR lines a failure reports).

Standard library only: the scripts run with the system python3, before any virtualenv exists.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from servicekit import Fail, pid_alive, wait_until

# Debezium's PostgreSQL connector logs one of these once the snapshot is over and it streams.
STREAMING_MARKERS = ("Starting streaming", "Processing messages")


def rest_get(port, path, timeout=5.0):
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode() or "null")
    except urllib.error.HTTPError as e:
        try:
            body = json.loads(e.read().decode() or "null")
        except ValueError:
            body = None
        return e.code, body
    except (OSError, ValueError):
        return None, None


def connector_status(port, name):
    code, body = rest_get(port, "/connectors/%s/status" % urllib.parse.quote(name))
    if code != 200 or not isinstance(body, dict):
        return None
    return body


def psql_at(dsn, sql):
    """(exit code, output) of one statement on the source database, None when psql is missing or
    hangs: the callers then fall back to what they know without it."""
    psql = shutil.which("psql")
    if not psql:
        return None
    try:
        proc = subprocess.run([psql, "-X", "-At", "-d", dsn, "-c", sql], capture_output=True, text=True,
                              timeout=15, stdin=subprocess.DEVNULL, env=dict(os.environ, PGCONNECT_TIMEOUT="5"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.returncode, proc.stdout.strip()


def slot_streaming(dsn, slot):
    """True/False when psql can tell whether the replication slot is active, None otherwise."""
    done = psql_at(dsn, "SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % slot)
    if done is None or done[0] != 0:
        return None
    return done[1] == "t"


def wait_ready(st, pid, info, timeout, proc=None):
    """Connector + task RUNNING and the snapshot over (streaming started): its status."""
    port, name = info["rest_port"], info["connector"]
    last = ["worker not answering on its REST port yet"]

    def gone():
        if proc is not None and proc.poll() is not None:
            return ("Kafka Connect exited with code %s during start-up; errors:\n%s\nlast lines of %s:\n%s"
                    % (proc.returncode, log_errors(st), st.log_file, tail(st)))
        if proc is None and not pid_alive(pid):
            return "Kafka Connect (pid %d) died; last lines of %s:\n%s" % (pid, st.log_file, tail(st))
        return None

    def streaming():
        status = connector_status(port, name)
        if status is None:
            return None
        cstate = status.get("connector", {}).get("state")
        tasks = status.get("tasks") or []
        tstates = [t.get("state") for t in tasks]
        last[0] = "connector %s, tasks %s" % (cstate, tstates or "none yet")
        failed = [t for t in tasks if t.get("state") == "FAILED"]
        if cstate == "FAILED" or failed:
            trace = (failed[0] if failed else status["connector"]).get("trace") or ""
            raise Fail("connector %s FAILED:\n%s" % (name, "\n".join(trace.splitlines()[:15])))
        if cstate == "RUNNING" and tstates and all(s == "RUNNING" for s in tstates):
            text = st.service.read_since_marker(st.log_file)
            started = any(m in text for m in STREAMING_MARKERS)
            if started and slot_streaming(info["dsn"], info["slot"]) is not False:
                return status
            last[0] += ", snapshot/streaming start not finished yet"
        return None

    return wait_until(streaming, gone, timeout=timeout, late=lambda: (
        "connector %s not streaming within %ds (%s); errors:\n%s\nlast lines of %s:\n%s"
        % (name, timeout, last[0], log_errors(st), st.log_file, tail(st))))


def log_errors(st, limit=8):
    """The ERROR lines (and the first line of their exception) of this start's log."""
    out = []
    lines = st.service.read_since_marker(st.log_file).splitlines()
    for i, line in enumerate(lines):
        if " ERROR " in line:
            out.append(line[:400])
            if i + 1 < len(lines) and not lines[i + 1].startswith("["):
                out.append("    " + lines[i + 1][:400])
    return "\n".join(out[-2 * limit:])


def tail(st):
    """The worker log's last lines, from a 256 KiB window (the other scripts read 64 KiB)."""
    return st.service.tail(st.log_file, max_bytes=256 * 1024)
