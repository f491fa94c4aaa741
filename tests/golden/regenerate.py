"""Rewrite tests/golden/plan_outputs.json from the current code (see tests/test_golden.py).

Run from the repository folder with ../shared/data beside it:
``python tests/golden/regenerate.py``. Only when a change is meant to move the numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1].parent / "shared" / "data"


def main() -> int:
    golden = json.loads((HERE / "plan_outputs.json").read_text(encoding="utf-8"))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for name, run in golden["runs"].items():
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "PLANNER_DB_URL": f"sqlite:///{tmp}/register.sqlite"}
            out = Path(tmp) / "out"
            cmd = [sys.executable, "-m", "planner", "--config", str(HERE.parents[1] / "config")]
            cmd += ["--data", str(DATA), "plan", *run["args"], "--out", str(out)]
            subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)
            run["files"] = {
                f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in sorted(run["files"])
            }
        print(f"{name}: {' '.join(run['args'])}")
    golden["_about"] = golden["_about"].split(" produced by commit")[0] + (
        f" produced by commit {commit}."
    )
    (HERE / "plan_outputs.json").write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
