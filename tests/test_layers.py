"""The layer contract of pyproject.toml ([tool.importlinter]): each layer imports only from the layers
below it, algorithms and rollout engines import nothing of the loop, training data no verifier, and
no package has an import cycle."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_follow_the_layers():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
