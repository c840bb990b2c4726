"""Final-answer extraction: every rule, every normalization, math-verify round trips, adversarial sizes."""

from __future__ import annotations

import dataclasses

import pytest
from math_verify import LatexExtractionConfig, parse, verify

from rewards.math.extract import MAX_RESPONSE_CHARS, Extraction, extract_final_answer, normalize_text

GSM8K = "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72"

CASES = [
    # 1. boxed
    (r"so the answer is \boxed{42}", "42", "boxed"),
    (r"Thus $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}", "boxed"),
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}", "boxed"),
    (r"First \boxed{1}, then corrected: \boxed{2}", "2", "boxed"),
    (r"\boxed{3} but wait, \boxed{4", "3", "boxed"),
    (r"\boxed{7 and then 12", "12", "final_number"),
    (r"\fbox{7}", "7", "boxed"),
    (r"The result is \boxed 5.", "5", "boxed"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}", "boxed"),
    (r"\boxed{(1, 2)}", "(1, 2)", "boxed"),
    (r"\boxed{1,000}", "1000", "boxed"),
    (r"\boxed{\dfrac12}", r"\frac{1}{2}", "boxed"),
    (r"\boxed{\left( 1, 2 \right)}", "( 1, 2 )", "boxed"),
    (r"\boxed{\$18}", "18", "boxed"),
    (r"\boxed{x^2+1} and the answer is 3", "x^2+1", "boxed"),
    (r"I will write \boxed{} later; it is 7", "7", "final_number"),
    ("#### 5\n" + r"\boxed{6}", "6", "boxed"),
    (r"\boxed{\text{(B)}}", r"\text{(B)}", "boxed"),
    (r"\boxed{-\frac{3}{4}}", r"-\frac{3}{4}", "boxed"),
    # 2. hashes
    (GSM8K, "72", "hashes"),
    ("#### 1,000", "1000", "hashes"),
    ("She pays 5 * 250.10 = 1250.50\n#### $1,250.50", "1250.50", "hashes"),
    ("#### 5\nWait, I made an error.\n#### 7", "7", "hashes"),
    ("#### \u221212", "-12", "hashes"),
    ("#### Step 1: add\nSo we get 3 + 4 = 7", "7", "final_number"),
    # 3. answer_is
    (r"The answer is $\frac{3}{4}$.", r"\frac{3}{4}", "answer_is"),
    ("Final answer: 17", "17", "answer_is"),
    ("**Final Answer:** 42", "42", "answer_is"),
    ("**Answer: 42**", "42", "answer_is"),
    ("Answer: (B)", "(B)", "answer_is"),
    ("ANSWER: 12", "12", "answer_is"),
    ("The answer is 5, which is odd.", "5", "answer_is"),
    ("The answer is -3/4", r"-\frac{3}{4}", "answer_is"),
    ("So the answer is 18 dollars.", "18", "answer_is"),
    ("The answer is $1,234.", "1234", "answer_is"),
    (r"The final answer is \(x = 5\). Done", "x = 5", "answer_is"),
    ("answer is 3.5.", "3.5", "answer_is"),
    ("The answer is (1, 2).", "(1, 2)", "answer_is"),
    ("The answer is 4. Check: $2+2=4$ holds, so 9 is wrong.", "4", "answer_is"),
    ("First the answer is 1.\nLater the answer is 2.", "2", "answer_is"),
    ("Final answer:\n\n  17\n", "17", "answer_is"),
    # 4. latex_delimiters
    (r"It equals \(x^2 + 2x + 1\)", "x^2 + 2x + 1", "latex_delimiters"),
    (r"\(x = 5\)", "5", "latex_delimiters"),
    ("So $2+3=5$", "5", "latex_delimiters"),
    ("\\[\n x = \\frac{-b}{2a} = 3\n\\]", "3", "latex_delimiters"),
    ("$$y = 7$$ done", "7", "latex_delimiters"),
    ("First $a=1$, then $b = 2$ and we stop", "2", "latex_delimiters"),
    (r"The set is $\{1,2\}$", r"\{1,2\}", "latex_delimiters"),
    (r"We get $\frac12$", r"\frac{1}{2}", "latex_delimiters"),
    (r"so $x = -\dfrac{7}{2}$", r"-\frac{7}{2}", "latex_delimiters"),
    (r"so $x = \frac 1 2$", r"\frac{1}{2}", "latex_delimiters"),
    ("so $x = 1{,}000$", "1000", "latex_delimiters"),
    ("The value of $x$ is 5.", "5", "final_number"),
    ("She earns $18 per hour, so she makes $36.", "36", "final_number"),
    # 5. final_number
    ("I think it is 41.", "41", "final_number"),
    ("\u22127", "-7", "final_number"),
    ("x = \u22122.5", "-2.5", "final_number"),
    ("The change is \u20135 degrees", "-5", "final_number"),
    ("The change is \u20145 degrees", "-5", "final_number"),
    ("Then 10-3 steps remain", "3", "final_number"),
    ("The population is 1,234,567 people", "1234567", "final_number"),
    ("Use 3/4 of the cake", r"\frac{3}{4}", "final_number"),
    ("She needs 2\u00bd cups of flour", r"\frac{5}{2}", "final_number"),
    ("She needs \u22122\u00bd cups", r"-\frac{5}{2}", "final_number"),
    ("About \u00be of them", r"\frac{3}{4}", "final_number"),
    ("It takes 1\u20442 hour", r"\frac{1}{2}", "final_number"),
    ("It takes \u215e hour", r"\frac{7}{8}", "final_number"),
    ("The result is 3.14", "3.14", "final_number"),
    ("It is .5 now", ".5", "final_number"),
    ("It costs \\$1,200.", "1200", "final_number"),
    ("There are 1\u00a0000 people", "1000", "final_number"),
    ("There are 1{,}000 people", "1000", "final_number"),
    ("Points (1, 2) and (3, 4)", "4", "final_number"),
    (r"It is \frac12 of it", r"\frac{1}{2}", "final_number"),
]

NOTHING = ["", "   \n ", "I don't know how to solve this problem.", r"\boxed{", "#### ", "The answer is", "$ $"]


@pytest.mark.parametrize(("response", "answer", "source"), CASES)
def test_extracts(response: str, answer: str, source: str) -> None:
    assert extract_final_answer(response) == Extraction(answer, source)


@pytest.mark.parametrize("response", NOTHING)
def test_nothing_found(response: str) -> None:
    assert extract_final_answer(response) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u22123", "-3"),
        ("2\u00bd", r"\frac{5}{2}"),
        ("\u215e", r"\frac{7}{8}"),
        ("3\u20444", r"\frac{3}{4}"),
        (r"\frac12", r"\frac{1}{2}"),
        (r"\frac 1 2", r"\frac{1}{2}"),
        (r"\tfrac{1}{2} + \dfrac{3}{4}", r"\frac{1}{2} + \frac{3}{4}"),
        (r"\frac\pi2", r"\frac{\pi}{2}"),
        (r"\frac{\sqrt{2}}{2}", r"\frac{\sqrt{2}}{2}"),
        ("a\u00a0b", "a b"),
        (r"\left( x \right)", "( x )"),
        (r"1\,000 and 3\!4", "1000 and 34"),
        (" 5. ", "5"),
        ("1.5", "1.5"),
        ("Wait...", "Wait..."),
        (r"x \rightarrow y", r"x \rightarrow y"),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_extraction_is_frozen() -> None:
    extraction = Extraction("1", "boxed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        extraction.answer = "2"  # type: ignore[misc]


def test_only_the_tail_is_scanned() -> None:
    assert extract_final_answer(r"\boxed{1}" + " x" * MAX_RESPONSE_CHARS) is None
    assert extract_final_answer("y " * MAX_RESPONSE_CHARS + r"\boxed{2}") == Extraction("2", "boxed")


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        (r"= \boxed{\frac{2}{4}}", r"\frac{1}{2}"),
        ("#### 1,000", "1000"),
        (r"The answer is $\frac{3}{4}$.", "0.75"),
        ("\u22127", "-7"),
        ("She needs 2\u00bd cups", r"\frac{5}{2}"),
        (r"\(x = 5\)", "5"),
        ("The answer is (1, 2).", "(1,2)"),
        (r"\boxed{\{1,2\}}", r"\{2,1\}"),
        ("So the answer is 18 dollars.", "18"),
        (r"We get $\frac12$", "0.5"),
        ("It takes 1\u20442 hour", "0.5"),
    ],
)
def test_math_verify_accepts_extracted_answer(response: str, reference: str) -> None:
    extraction = extract_final_answer(response)
    assert extraction is not None
    config = [LatexExtractionConfig()]
    gold = parse("$" + reference + "$", extraction_config=config)
    pred = parse("$" + extraction.answer + "$", extraction_config=config)
    assert verify(gold, pred)


def test_math_verify_rejects_wrong_answer() -> None:
    extraction = extract_final_answer(r"\boxed{3}")
    assert extraction is not None
    config = [LatexExtractionConfig()]
    assert not verify(parse("$4$", extraction_config=config), parse("$" + extraction.answer + "$", extraction_config=config))


ADVERSARIAL = {
    "1MB of text": ("The number is 12 here. " * 45_000)[:1_000_000] + r" \boxed{7}",
    "3000 nested parentheses": "(" * 3000 + "1" + ")" * 3000,
    "100k open braces": "{" * 100_000,
    "100k unterminated boxes": r"\boxed{" * 100_000,
    "3000 nested boxes": r"\boxed{" * 3000 + "1" + "}" * 3000,
    "100k dollar signs": "$a " * 100_000,
    "100k open parens": r"\( a" * 100_000,
    "100k open brackets": r"\[ a" * 100_000,
    "1M digits": "1" * 1_000_000,
    "1M spaces": " " * 1_000_000 + "x",
    "thousands chain": "1,234" * 200_000,
    "100k answer markers": "answer: " * 100_000,
    "100k hashes": "####" * 100_000,
    "100k fracs": r"\frac{" * 100_000,
    "100k vulgar fractions": "1" * 100 + "\u00bd" * 100_000,
}


@pytest.mark.timeout(30)  # a hang guard (catastrophic backtracking takes hours), not a speed target
@pytest.mark.parametrize("response", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_inputs_finish(response: str) -> None:
    result = extract_final_answer(response)
    assert result is None or isinstance(result.answer, str)


def test_large_response_keeps_its_answer() -> None:
    assert extract_final_answer(ADVERSARIAL["1MB of text"]) == Extraction("7", "boxed")
    assert extract_final_answer(ADVERSARIAL["3000 nested boxes"]) == Extraction("1", "boxed")
