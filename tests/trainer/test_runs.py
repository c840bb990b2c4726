"""Run folders: a new one per run, ``latest`` pointing at the newest, and every path a user gives
resolved to a checkpoint or refused with what to give instead."""

from __future__ import annotations

import pytest

from trainer.runs import LATEST, RunError, latest_run, new_run_dir, point_latest, resolve_checkpoint, run_to_resume


def checkpoint(run, step):
    folder = run / "checkpoints" / f"step-{step:06d}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.pt").write_bytes(b"")
    return folder


def test_each_run_gets_its_own_folder_and_latest_follows(tmp_path):
    name = tmp_path / "quickstart"
    first = new_run_dir(name, now=1_800_000_000)
    (first / "metrics.jsonl").write_text("kept\n")
    second = new_run_dir(name, now=1_800_000_000)  # the same second
    third = new_run_dir(name, now=1_800_000_060)
    assert second.name == f"{first.name}-2" and third.name != first.name
    assert (first / "metrics.jsonl").read_text() == "kept\n"
    assert latest_run(name) == third.resolve() and (name / LATEST).is_symlink()
    assert not (name / LATEST).readlink().is_absolute()  # the folder can be moved or mounted elsewhere
    point_latest(first)
    assert latest_run(name) == first.resolve()


def test_a_name_a_run_or_a_checkpoint_resolves_to_the_newest_checkpoint(tmp_path):
    name = tmp_path / "quickstart"
    old = new_run_dir(name, now=1_800_000_000)
    checkpoint(old, 5)
    checkpoint(old, 10)
    new = new_run_dir(name, now=1_800_000_100)
    newest = checkpoint(new, 2)
    assert resolve_checkpoint(name) == newest.resolve()  # the latest run's, not the run with more steps
    assert resolve_checkpoint(old).name == "step-000010"
    assert resolve_checkpoint(old / "checkpoints" / "step-000005").name == "step-000005"


def test_paths_without_a_checkpoint_are_refused_with_what_to_give(tmp_path):
    name = tmp_path / "quickstart"
    with pytest.raises(RunError, match="no such checkpoint or run folder"):
        resolve_checkpoint(name)
    new_run_dir(name)
    with pytest.raises(RunError, match="no checkpoint in .* yet"):
        resolve_checkpoint(name)
    with pytest.raises(RunError, match="not a run folder or checkpoint"):
        run_to_resume(str(tmp_path / "elsewhere"), name)


def test_resume_continues_the_latest_run_or_the_one_given(tmp_path):
    name = tmp_path / "quickstart"
    assert run_to_resume("auto", name) is None  # nothing to resume: the caller starts a run
    older = new_run_dir(name, now=1_800_000_000)
    (older / "config.yaml").write_text("{}")
    ckpt = checkpoint(older, 3)
    newer = new_run_dir(name, now=1_800_000_100)
    assert run_to_resume("auto", name) == newer.resolve()
    assert run_to_resume(str(older), name) == older.resolve()
    assert run_to_resume(str(ckpt), name) == older.resolve()
    assert run_to_resume(str(name), name) == newer.resolve()


def test_resuming_an_older_checkpoint_branches_into_a_new_run(tmp_path):
    from trainer.run import _decide_run

    name = tmp_path / "quickstart"
    run = new_run_dir(name, now=1_800_000_000)
    older, newer = checkpoint(run, 5), checkpoint(run, 10)
    assert _decide_run(name, "auto")[:2] == (run.resolve(), newer.resolve())  # the newest, in the same folder
    branch, resumed, said = _decide_run(name, str(older))
    assert branch != run.resolve() and resumed == older and "left as they are" in said
    assert latest_run(name) == branch.resolve() and newer.is_dir()
    fresh, none, said = _decide_run(tmp_path / "other", "auto")
    assert none is None and fresh.parent == tmp_path / "other" and "no earlier run" in said
