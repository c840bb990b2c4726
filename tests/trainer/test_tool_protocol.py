"""The python tool's text protocol: which block a stop runs, and what the model reads back."""

from __future__ import annotations

import pytest

from trainer.tools.protocol import CLOSE_FENCE, block_to_run, output_block


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Let me compute.\n```python\nprint(2 * 3)\n```\n", "print(2 * 3)\n"),
        ("```py\nx = 1\nprint(x)\n```\n", "x = 1\nprint(x)\n"),
        ("```python\nprint(1)\n```\n\n", "print(1)\n"),  # the stopping token ran past the fence
        ("First:\n```\n", None),  # an untagged block's opening line
        ("```text\nnot code\n```\n", None),  # a closed block that is not python
        ("```python\nprint(1)\n", None),  # no closing fence
        ("```python\nprint(1)\n```\nthen\n```\nplain\n```\n", None),  # the stop closed a later, untagged block
    ],
)
def test_the_block_a_stop_runs(text, code):
    assert block_to_run(text) == code


def test_the_stop_string_is_a_fence_on_its_own_line():
    assert CLOSE_FENCE in "```python\nx\n```\n" and CLOSE_FENCE not in "```python\n"


def test_output_is_fenced_and_cut_with_a_count_of_what_was_cut():
    assert output_block("42\n", 100) == "```output\n42\n```\n"
    assert output_block("", 100) == "```output\n(no output)\n```\n"
    long = output_block("x" * 1000, 64)
    assert long == "```output\n" + "x" * 64 + "\n... (936 more characters)\n```\n"
