"""The built-in code task: small Python programs that read stdin and print an answer, checked by
the code verifier in the sandbox.

A problem is a statement of one family (strings, lists, arithmetic, small algorithms), some with a
parameter, e.g. "print the sum of the integers, each multiplied by 3". Its example and tests are
inputs drawn with the seed from the problem's own generator, with outputs computed by its reference
implementation here, never by a model. Problems are unique by prompt, shuffled with the seed and
split so that no problem is in both train and test.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from contract.schema import ChatMessage, Sample

PROMPT = (
    "Write a Python program that reads from standard input and prints to standard output.\n\n"
    "{task}\n\nInput: {input}\nOutput: {output}\n\nExample input:\n{example_in}\nExample output:\n{example_out}\n\n"
    "The program must read the input with input() and work for every input, not only the example. "
    "For instance, a program that prints the product of two integers given on one line is:\n"
    "```python\na, b = map(int, input().split())\nprint(a * b)\n```\n"
    "Answer with one ```python code block holding the whole program."
)


@dataclass(frozen=True)
class Problem:
    """One problem: its statement, input and output formats, and how to make and solve an input."""

    family: str
    task: str
    input_format: str
    output_format: str
    make_input: Callable[[random.Random], str]  # a test input (ends with a newline)
    solve: Callable[[str], str]  # its expected output (ends with a newline)


def _ints(line: str) -> list[int]:
    return [int(x) for x in line.split()]


def _int_list(rng: random.Random, low: int = -50, high: int = 50) -> str:
    return " ".join(str(rng.randint(low, high)) for _ in range(rng.randint(1, 8))) + "\n"


def _word(rng: random.Random, low: int = 1, high: int = 10) -> str:
    return "".join(rng.choice("abcdeiouxyz") for _ in range(rng.randint(low, high)))


def _words(rng: random.Random) -> str:
    return " ".join(_word(rng) for _ in range(rng.randint(1, 6))) + "\n"


def _two_ints(rng: random.Random, low: int = 1, high: int = 100) -> str:
    return f"{rng.randint(low, high)} {rng.randint(low, high)}\n"


def _one_int(low: int, high: int) -> Callable[[random.Random], str]:
    return lambda rng: f"{rng.randint(low, high)}\n"


def problems() -> list[Problem]:
    """Every problem of every family."""
    out: list[Problem] = []
    ints_line = "one line of space-separated integers"
    for k in range(1, 16):
        out.append(Problem("lists", f"Print the sum of the integers, each multiplied by {k}.", ints_line, "one integer", _int_list, lambda s, k=k: f"{k * sum(_ints(s))}\n"))
        out.append(Problem("lists", f"Print how many of the integers are greater than {k}.", ints_line, "one integer", _int_list, lambda s, k=k: f"{sum(x > k for x in _ints(s))}\n"))
        out.append(Problem("lists", f"Print the integers that are divisible by {k + 1}, in their order, separated by spaces (an empty line if none are).", ints_line, "one line", _int_list, lambda s, d=k + 1: " ".join(str(x) for x in _ints(s) if x % d == 0) + "\n"))
        out.append(Problem("arithmetic", f"Two integers a and b are given. Print a * b + {k}.", "one line with a and b", "one integer", _two_ints, lambda s, k=k: f"{_ints(s)[0] * _ints(s)[1] + k}\n"))
        out.append(Problem("arithmetic", f"An integer n is given. Print n squared minus {k}.", "one line with n", "one integer", _one_int(-100, 100), lambda s, k=k: f"{int(s) ** 2 - k}\n"))
        out.append(Problem("strings", f"A word is given. Print the word repeated {k + 1} times, with no spaces.", "one word of lowercase letters", "one line", lambda rng: _word(rng) + "\n", lambda s, k=k: s.strip() * (k + 1) + "\n"))
        out.append(Problem("strings", f"A line of words is given. Print the words that have more than {k} letters, separated by spaces (an empty line if none do).", "one line of lowercase words", "one line", _words, lambda s, k=k: " ".join(w for w in s.split() if len(w) > k) + "\n"))
        out.append(Problem("algorithms", f"An integer n is given. Print the sum of the integers from 1 to n that are divisible by {k + 1}.", "one line with n (1 <= n <= 1000)", "one integer", _one_int(1, 1000), lambda s, d=k + 1: f"{sum(i for i in range(1, int(s) + 1) if i % d == 0)}\n"))
    fixed = [
        Problem("lists", "Print the largest of the integers.", ints_line, "one integer", _int_list, lambda s: f"{max(_ints(s))}\n"),
        Problem("lists", "Print the smallest of the integers.", ints_line, "one integer", _int_list, lambda s: f"{min(_ints(s))}\n"),
        Problem("lists", "Print the integers sorted from smallest to largest, separated by spaces.", ints_line, "one line", _int_list, lambda s: " ".join(map(str, sorted(_ints(s)))) + "\n"),
        Problem("lists", "Print the integers in reverse order, separated by spaces.", ints_line, "one line", _int_list, lambda s: " ".join(map(str, reversed(_ints(s)))) + "\n"),
        Problem("lists", "Print how many of the integers are even.", ints_line, "one integer", _int_list, lambda s: f"{sum(x % 2 == 0 for x in _ints(s))}\n"),
        Problem("strings", "A word is given. Print it reversed.", "one word of lowercase letters", "one line", lambda rng: _word(rng) + "\n", lambda s: s.strip()[::-1] + "\n"),
        Problem("strings", "A word is given. Print it in uppercase.", "one word of lowercase letters", "one line", lambda rng: _word(rng) + "\n", lambda s: s.strip().upper() + "\n"),
        Problem("strings", "A word is given. Print how many vowels (a, e, i, o, u) it has.", "one word of lowercase letters", "one integer", lambda rng: _word(rng) + "\n", lambda s: f"{sum(c in 'aeiou' for c in s.strip())}\n"),
        Problem("strings", "A word is given. Print YES if it reads the same backwards, else NO.", "one word of lowercase letters", "YES or NO", lambda rng: (w := _word(rng, 1, 4)) + (w[::-1] if rng.random() < 0.5 else "") + "\n", lambda s: ("YES" if s.strip() == s.strip()[::-1] else "NO") + "\n"),
        Problem("strings", "A line of words is given. Print how many words it has.", "one line of lowercase words", "one integer", _words, lambda s: f"{len(s.split())}\n"),
        Problem("strings", "A line of words is given. Print the longest word (the first one if several are as long).", "one line of lowercase words", "one word", _words, lambda s: max(s.split(), key=len) + "\n"),
        Problem("arithmetic", "Two integers a and b are given. Print their sum.", "one line with a and b", "one integer", _two_ints, lambda s: f"{sum(_ints(s))}\n"),
        Problem("arithmetic", "Two integers a and b are given. Print the larger of the two.", "one line with a and b", "one integer", _two_ints, lambda s: f"{max(_ints(s))}\n"),
        Problem("arithmetic", "An integer n is given. Print the sum of its decimal digits.", "one line with n (0 <= n <= 10^9)", "one integer", _one_int(0, 10**9), lambda s: f"{sum(map(int, s.strip()))}\n"),
        Problem("algorithms", "An integer n is given. Print n factorial.", "one line with n (0 <= n <= 20)", "one integer", _one_int(0, 20), lambda s: f"{math.factorial(int(s))}\n"),
        Problem("algorithms", "Two positive integers are given. Print their greatest common divisor.", "one line with the two integers", "one integer", _two_ints, lambda s: f"{math.gcd(*_ints(s))}\n"),
        Problem("algorithms", "An integer n is given. Print the n-th Fibonacci number, where F(1) = F(2) = 1.", "one line with n (1 <= n <= 60)", "one integer", _one_int(1, 60), lambda s: f"{_fibonacci(int(s))}\n"),
        Problem("algorithms", "An integer n is given. Print YES if it is a prime number, else NO.", "one line with n (1 <= n <= 10000)", "YES or NO", _one_int(1, 10000), lambda s: ("YES" if _is_prime(int(s)) else "NO") + "\n"),
        Problem(
            "algorithms",
            "An integer n is given. Print the integers from 1 to n on one line, separated by spaces, with each multiple of 3 replaced by Fizz, of 5 by Buzz, and of both by FizzBuzz.",
            "one line with n (1 <= n <= 100)",
            "one line",
            _one_int(1, 100),
            lambda s: " ".join(_fizzbuzz(i) for i in range(1, int(s) + 1)) + "\n",
        ),
    ]
    return out + fixed


def _fibonacci(n: int) -> int:
    a, b = 1, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return a


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def _fizzbuzz(i: int) -> str:
    return "FizzBuzz" if i % 15 == 0 else "Fizz" if i % 3 == 0 else "Buzz" if i % 5 == 0 else str(i)


def code_sample(problem: Problem, split: str, index: int, rng: random.Random, tests: int) -> Sample:
    """The problem as a sample: its prompt with one worked example, and ``tests`` stdin/stdout cases."""
    inputs: list[str] = []
    for _ in range(tests * 20):  # distinct inputs where the generator has that many
        candidate = problem.make_input(rng)
        if candidate not in inputs:
            inputs.append(candidate)
        if len(inputs) == tests + 1:
            break
    example, cases = inputs[0], inputs[1:] or inputs
    prompt = PROMPT.format(task=problem.task, input=problem.input_format, output=problem.output_format, example_in=example.rstrip("\n"), example_out=problem.solve(example).rstrip("\n"))
    return Sample(
        id=f"code-{split}-{index}",
        verifier="code",
        prompt=[ChatMessage(role="user", content=prompt)],
        reference={"tests": [{"stdin": c, "stdout": problem.solve(c)} for c in cases], "time_limit_s": 2, "language": "python"},
    )


def code_splits(test_size: int = 32, tests_per_problem: int = 5, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, test) samples of the built-in code task; ``test_size`` problems are held out."""
    rng = random.Random(seed)
    pool = problems()
    if test_size >= len(pool):
        raise ValueError(f"data.code.test_size={test_size} leaves no training problems out of {len(pool)}: lower it")
    rng.shuffle(pool)
    test = [code_sample(p, "test", i, rng, tests_per_problem) for i, p in enumerate(pool[:test_size])]
    train = [code_sample(p, "train", i, rng, tests_per_problem) for i, p in enumerate(pool[test_size:])]
    return train, test
