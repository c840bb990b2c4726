"""The built-in code task: problems unique and split apart, tests computed by the reference."""

from __future__ import annotations

from collections import Counter

import pytest

from trainer.data.code import code_splits, problems


def test_problems_are_split_apart_and_every_family_is_held_out():
    train, test = code_splits(test_size=32, tests_per_problem=5, seed=0)
    prompts = [s.prompt[0].content for s in train + test]
    assert len(set(prompts)) == len(prompts) and len(test) == 32
    assert {s.verifier for s in train + test} == {"code"}
    families = Counter(p.family for p in problems())
    assert set(families) == {"lists", "strings", "arithmetic", "algorithms"} and min(families.values()) >= 10
    assert code_splits(seed=0)[1] == test and code_splits(seed=1)[1] != test  # seeded


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_case_is_the_reference_answer_to_its_input(seed):
    by_task = {p.task: p for p in problems()}
    for sample in code_splits(seed=seed)[0][:40]:
        task = sample.prompt[0].content.split("\n\n")[1]
        problem = by_task[task]
        cases = sample.reference["tests"]
        assert 1 <= len(cases) <= 5 and len({c["stdin"] for c in cases}) == len(cases)
        for case in cases:
            assert case["stdin"].endswith("\n") and case["stdout"] == problem.solve(case["stdin"])


def test_a_held_out_size_that_leaves_nothing_to_train_is_refused():
    with pytest.raises(ValueError, match="data.code.test_size"):
        code_splits(test_size=10_000)
