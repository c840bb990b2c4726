"""README opens with the two set-up commands, and .ci/run runs the second one."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip() and not line.startswith("#")]


def test_readme_opens_with_two_setup_commands():
    quickstart, tests = setup_commands()
    assert quickstart.endswith("verity train")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command():
    assert setup_commands()[1] in (ROOT / ".ci" / "run").read_text()
