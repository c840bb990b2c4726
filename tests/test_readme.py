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


def test_every_extra_the_dependencies_ask_for_is_provided():
    """pip warns when a package lacks an extra asked of it (spelled as the package spells it: the
    pip of a fresh machine does not normalize the name), and installs without it."""
    import tomllib
    from importlib.metadata import metadata

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        provided = set(metadata(req.name).get_all("Provides-Extra") or [])
        for extra in req.extras:
            assert extra in provided, f"{req.name} provides no extra {extra!r}: it offers {sorted(provided)}"
