"""The text protocol of the python tool: what the prompt tells the model, how a block to run is
found in what it wrote, and how the tool's answer is written back.

The model writes a fenced block, ```python ... ```, closed on a line of its own; generation stops
at that closing fence (``CLOSE_FENCE``, a stop string), the block runs, and its output comes back
as a fenced ```output block, after which the model goes on. Only python blocks run: a stop at any
other fence (an untagged block's opening or closing line) just continues the generation.
"""

from __future__ import annotations

import re

CLOSE_FENCE = "\n```\n"  # a fence alone on its line: the stop string of every turn
_OPEN = re.compile(r"```(?:python|py)[ \t]*\n")

INSTRUCTIONS = (
    "Use Python to work out the answer. Write the code in a ```python block and end the block with ``` on its own "
    "line: the code runs, and what it prints comes back in an ```output block. Every block runs after your earlier "
    "blocks, so their variables are still there. For example, for 37 × 41:\n"
    "```python\nprint(37 * 41)\n```\n```output\n1517\n```\n"
    "So the answer is 1517. Always end with the final answer, written as the question asks."
)


def block_to_run(text: str) -> str | None:
    """The code of the python block that ``text`` (a turn of the model's, ending at a stop) closes
    last, or None when the fence it stopped at closes no python block."""
    end = text.rfind(CLOSE_FENCE)
    if end < 0:
        return None
    opens = list(_OPEN.finditer(text, 0, end + 1))
    if not opens:
        return None
    code = text[opens[-1].end() : end + 1]
    return code if "```" not in code else None  # a later fence inside: this stop closed another block


def output_block(output: str, limit_chars: int) -> str:
    """The fenced output block the tool answers with: at most ``limit_chars`` characters of its
    output, then a line saying how many more there were."""
    text = output.rstrip("\n")
    if len(text) > limit_chars:
        text = f"{text[:limit_chars]}\n... ({len(text) - limit_chars} more characters)"
    return f"```output\n{text or '(no output)'}\n```\n"
