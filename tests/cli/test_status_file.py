"""``--status-file`` on a file flow: written while running and at the end, the counters of
every step, atomically replaced (never half a document), and secrets redacted."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_status_file_ends_finished_with_every_step(tmp_path):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(500)) + "{broken\n")
    path = tmp_path / "flow.yaml"
    path.write_text(f'version: 1\nname: "${{FLOW_NAME}}"\nsources: {{s: {{file: {{path: "{tmp_path}/in.jsonl"}}}}}}\n'
                    'steps:\n  - id: typed\n    cast: {fields: {n: int}}\n'
                    f'sinks:\n  out: {{from: typed, file: {{path: "{tmp_path}/out.jsonl"}}}}\n'
                    f'dead_letter: {{file: {{path: "{tmp_path}/dead.jsonl"}}}}\n')
    status = tmp_path / "status.json"
    done = subprocess.run([sys.executable, "-m", "cli", "run", "-q", str(path), "--status-file", str(status)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "FLOW_NAME": "secretflow42"})
    assert done.returncode == 0, done.stderr
    document = json.loads(status.read_text())
    assert document["state"] == "finished" and document["topology"] == "${FLOW_NAME}"
    assert document["steps"]["typed"] == {"in": 500, "out": 500, "dead": 0}
    assert document["steps"]["s"]["dead"] == 1 and document["steps"]["dead_letter"]["in"] == 1
    assert "secretflow42" not in status.read_text()
    assert not list(tmp_path.glob("status.json.*.tmp"))
