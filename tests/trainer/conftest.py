"""A tiny float64 Llama (vocabulary 64, EOS 2, pad 0) and its tokenizer's ids, for the exact checks
of log-probs, sampling and the algorithms against references."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM


class TinyTokenizer:
    pad_token_id = 0
    eos_token_id = 2


@pytest.fixture(scope="module")
def tiny() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, eos_token_id=2, pad_token_id=0, bos_token_id=1)
    return LlamaForCausalLM(config).double().eval()
