import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract.files import DataFileError
from trainer.data.arithmetic import arithmetic_splits
from trainer.data.loaders import load_samples
from trainer.data.sampler import EpochSampler


def test_arithmetic_split_is_seeded_and_disjoint():
    train, test = arithmetic_splits(1, 30, 64, seed=0)
    again, _ = arithmetic_splits(1, 30, 64, seed=0)
    other, _ = arithmetic_splits(1, 30, 64, seed=1)
    assert len(test) == 64 and len(train) == 900 - 64
    assert [s.prompt[0].content for s in train] == [s.prompt[0].content for s in again]
    assert [s.prompt[0].content for s in train] != [s.prompt[0].content for s in other]
    assert not {s.prompt[0].content for s in train} & {s.prompt[0].content for s in test}
    s = test[0]
    a, b = [int(x) for x in s.prompt[0].content.split("What is ")[1].split("?")[0].split(" + ")]
    assert s.reference == {"answer": str(a + b)} and s.verifier == "math"


def test_arithmetic_rejects_a_test_split_without_training_rest():
    with pytest.raises(ValueError, match="test_size"):
        arithmetic_splits(1, 3, 9)


def write(path, lines):
    path.write_bytes(b"".join(line if isinstance(line, bytes) else line.encode() for line in lines))
    return path


def test_jsonl_loader_skips_and_reports_bad_rows(tmp_path, caplog):
    good = json.dumps({"id": "a", "prompt": "1+1?", "reference": {"answer": "2"}})
    path = write(tmp_path / "d.jsonl", [good + "\n", "not json\n", json.dumps({"id": "b", "prompt": "x"}) + "\n", b"\xff\xfe\n", "\n", json.dumps({"id": "c", "prompt": 5, "reference": {}}) + "\n"])
    with caplog.at_level("WARNING"):
        samples = load_samples(path)
    assert [s.id for s in samples] == ["a"]
    text = caplog.text
    assert "d.jsonl:2: not valid JSON" in text
    assert "d.jsonl:3: field 'reference': Field required" in text
    assert "d.jsonl:4: not UTF-8" in text
    assert "d.jsonl:6: field 'prompt" in text


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"nope\n", "no usable sample")])
def test_empty_or_useless_file_is_an_error(tmp_path, content, message):
    with pytest.raises(DataFileError, match=message):
        load_samples(write(tmp_path / "d.jsonl", [content]))


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_samples(tmp_path / "none.jsonl")


def test_parquet_in_the_sample_schema(tmp_path):
    rows = [{"id": "p1", "verifier": "math", "prompt": "What is 2+2?", "reference": {"answer": "4"}}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    (s,) = load_samples(tmp_path / "d.parquet")
    assert s.id == "p1" and s.reference == {"answer": "4"}


def test_verl_style_parquet_is_mapped(tmp_path):
    rows = [
        {"data_source": "gsm8k", "prompt": [{"role": "user", "content": "2+3?"}], "reward_model": {"style": "rule", "ground_truth": "5"}, "extra_info": {"index": 7}},
        {"data_source": "gsm8k", "prompt": [{"role": "user", "content": "?"}], "reward_model": {"style": "rule", "ground_truth": None}, "extra_info": {"index": 8}},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "verl.parquet")
    samples = load_samples(tmp_path / "verl.parquet", verl_verifier="math")
    assert len(samples) == 1
    s = samples[0]
    assert s.id == "gsm8k-7" and s.verifier == "math" and s.reference == {"answer": "5"}
    assert s.prompt[0].content == "2+3?"


def test_damaged_parquet(tmp_path):
    with pytest.raises(DataFileError, match="Parquet"):
        load_samples(write(tmp_path / "x.parquet", [b"PAR1garbage"]))


def test_epoch_sampler_resumes_exactly():
    items = list(range(10))
    a = EpochSampler(items, seed=3)
    first = a.next_batch(7)
    state = a.state()
    rest = a.next_batch(12)
    b = EpochSampler(items, seed=3)
    b.load_state(state)
    assert b.next_batch(12) == rest
    assert sorted(first + rest[:3]) == items  # one epoch is a permutation


def test_products_are_multi_digit_distinct_seeded_and_disjoint():
    from trainer.data.products import product_splits

    train, test = product_splits(digits=3, train_size=200, test_size=20, seed=1)
    assert (len(train), len(test)) == (200, 20)
    pairs = {}
    for s in train + test:
        a, b = (int(x) for x in s.prompt[0].content.split("?")[0].removeprefix("What is ").split(" × "))
        assert 100 <= a <= 999 and 100 <= b <= 999 and s.reference == {"answer": str(a * b), "form": "number"} and s.verifier == "math"
        pairs[(a, b)] = s.id
    assert len(pairs) == 220  # no pair twice, so none is in both splits
    assert product_splits(3, 200, 20, seed=1) == (train, test) and product_splits(3, 200, 20, seed=2) != (train, test)


def test_products_refuse_more_problems_than_pairs():
    from trainer.data.products import product_splits

    with pytest.raises(ValueError, match=r"data.products: 90 \+ 20 problems exceed the 81 pairs of 1-digit numbers"):
        product_splits(digits=1, train_size=90, test_size=20)


def test_a_tools_instructions_open_the_prompt():
    from contract.schema import ChatMessage, Sample
    from trainer.model import load_tokenizer
    from trainer.prompts import encode_prompt

    tok = load_tokenizer("smollm2-135m-instruct")
    plain = Sample(id="a", verifier="math", prompt="What is 2 × 3?", reference={"answer": "6"})
    with_system = Sample(id="b", verifier="math", prompt=[ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="What is 2 × 3?")], reference={"answer": "6"})
    text = tok.decode(encode_prompt(tok, plain, True, "RUN PYTHON"))
    assert "<|im_start|>system\nRUN PYTHON<|im_end|>" in text and text.index("RUN PYTHON") < text.index("What is 2 × 3?")
    merged = tok.decode(encode_prompt(tok, with_system, True, "RUN PYTHON"))
    assert "<|im_start|>system\nRUN PYTHON\n\nBe brief.<|im_end|>" in merged and merged.count("<|im_start|>system") == 1
    assert tok.decode(encode_prompt(tok, plain, False, "RUN PYTHON")).startswith("RUN PYTHON\n\nWhat is 2 × 3?")
    assert encode_prompt(tok, plain, True) == encode_prompt(tok, plain, True, None)
