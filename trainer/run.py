"""``verity train`` and ``verity eval``: wire config, data, model, reward services and the loop."""

from __future__ import annotations

import errno
import random
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
import yaml
from rich.console import Console

from contract.schema import Sample
from rewards.builtin import BUILTIN_VERIFIERS
from rewards.code.datasets import ROW_FORMATS
from rewards.telecom.datasets import load_oran_bench, load_teleqna
from serving.auth import TokenFileError, read_token_file
from serving.client import ClientOptions
from serving.local import LocalServices
from trainer.check import missing_files
from trainer.checkpoint import checkpoints, is_checkpoint
from trainer.config import Config, ConfigError, load_config
from trainer.data.arithmetic import arithmetic_splits
from trainer.data.code import code_splits
from trainer.data.loaders import load_samples
from trainer.data.products import product_splits
from trainer.data.telecom import telecom_splits
from trainer.evaluate import evaluate
from trainer.logs import quiet_third_parties
from trainer.loop import Trainer
from trainer.model import autocast, load_model, load_tokenizer, needs_conversion, resolve_model_path
from trainer.rollout.base import RolloutEngine
from trainer.rollout.hf import HFEngine
from trainer.runs import OutOfSpace, RunError, new_run_dir, point_latest, resolve_checkpoint, run_to_resume
from trainer.scoring import RemoteScorer
from trainer.tools.episodes import EpisodeRunner
from trainer.tools.python import PythonTool
from trainer.world import World, resolve_device


def load_data(cfg: Config) -> tuple[list[Sample], list[Sample]]:
    d = cfg.data
    builtin_train, builtin_test = (None, None)
    if d.train is None or d.test is None:
        if d.task == "telecom":
            t = d.telecom
            builtin_train, builtin_test = telecom_splits(t.train_size, t.test_size, t.seed, t.topics, t.mcq_share)
        elif d.task == "products":
            p = d.products
            builtin_train, builtin_test = product_splits(p.digits, p.train_size, p.test_size, p.seed)
        elif d.task == "code":
            c = d.code
            builtin_train, builtin_test = code_splits(c.test_size, c.tests_per_problem, c.seed)
        else:
            a = d.arithmetic
            builtin_train, builtin_test = arithmetic_splits(a.low, a.high, a.test_size, a.seed)
    loaders = {"samples": lambda path: load_samples(path, d.verl_verifier), "teleqna": load_teleqna, "oran-bench": load_oran_bench}
    loaders.update({name: lambda path, mapper=mapper: load_samples(path, mapper=mapper) for name, mapper in ROW_FORMATS.items()})
    loader = loaders[d.format]
    train = loader(d.train) if d.train else builtin_train
    test = loader(d.test) if d.test else builtin_test
    return train, test


def reward_services(cfg: Config, samples: list[Sample], stack: ExitStack, world: World | None = None) -> RemoteScorer:
    """Configured endpoints, plus local subprocesses for the built-in verifiers left without one:
    started once per machine (by its first process) and used by every process of the machine."""
    world = world or World()
    endpoints = dict(cfg.rewards.endpoints)
    missing = {s.verifier for s in samples} - set(endpoints)
    unknown = sorted(missing - set(BUILTIN_VERIFIERS))
    if unknown:
        raise ConfigError(f"the data names verifier(s) {', '.join(unknown)} with no endpoint: set rewards.endpoints.{unknown[0]}=HOST:PORT")
    r = cfg.rewards
    options = client_options(cfg)
    if missing:
        if r.tls_ca:
            raise ConfigError(f"rewards.tls_ca is set but verifier(s) {', '.join(sorted(missing))} have no endpoint: local services are plaintext, so give every verifier an endpoint")
        started = stack.enter_context(LocalServices(missing, workers=r.local_workers, deadline_s=r.sample_deadline_s, max_message_mb=r.max_message_mb, service_args={"code": r.code.serve_args()}, auth_token_file=r.auth_token_file)) if world.is_local_main else None
        endpoints.update(world.gather(started)[world.rank - world.local_rank])  # the machine's first process's
    scorer = RemoteScorer(endpoints, options)
    stack.callback(scorer.close)
    return scorer


def client_options(cfg: Config) -> ClientOptions:
    """How the trainer calls every service: the rewards section's deadlines, retries, TLS and token."""
    r = cfg.rewards
    try:
        token = read_token_file(r.auth_token_file, "rewards.auth_token_file")
    except TokenFileError as e:
        raise ConfigError(str(e)) from None
    return ClientOptions(deadline_s=r.deadline_s, retries=r.retries, backoff_max_s=r.backoff_max_s, max_in_flight=r.max_in_flight, batch_size=r.batch_size, max_message_bytes=r.max_message_mb * 2**20, tls_ca=r.tls_ca, tls_cert=r.tls_cert, tls_key=r.tls_key, auth_token=token)


def python_tool(cfg: Config, stack: ExitStack, world: World | None = None) -> PythonTool | None:
    """The python tool of ``rollout.tools`` (None without it): on the Sandbox replicas of
    ``rollout.sandbox``, or on a local sandbox started once per machine by its first process."""
    r, world = cfg.rollout, world or World()
    if not r.tools:
        return None
    addresses = list(r.sandbox)
    if not addresses:
        if cfg.rewards.tls_ca:
            raise ConfigError("rewards.tls_ca is set but rollout.sandbox is empty: a local sandbox is plaintext, so give the tools a sandbox with rollout.sandbox=[HOST:PORT]")
        started = stack.enter_context(LocalServices(["sandbox"], workers=cfg.rewards.local_workers, auth_token_file=cfg.rewards.auth_token_file)) if world.is_local_main else None
        addresses = world.gather(started)[world.rank - world.local_rank]["sandbox"]
    tool = PythonTool(addresses, client_options(cfg), r.tool_timeout_s)
    stack.callback(tool.close)
    return tool


def make_engine(cfg: Config, model, tokenizer, model_path: str, batch_size: int) -> RolloutEngine:
    """The configured rollout engine (``rollout.engine``), holding the weights of ``model``."""
    if cfg.rollout.engine == "hf":
        return HFEngine(model, tokenizer, batch_size, autocast(cfg.model.dtype, model.device))
    from trainer.rollout.vllm import VLLMEngine

    v = cfg.rollout.vllm
    return VLLMEngine(resolve_model_path(model_path), cfg.model.dtype, cfg.train.seed, v.max_model_len, max(cfg.algorithm.needs().recorded_topk, 1), v.sleep, v.kv_cache_gib, **v.engine_args)


def needs_reference_model(cfg: Config) -> bool:
    """Whether the step's algorithms need the frozen initial model: its log-probs, or its support."""
    needs = cfg.algorithm.needs()
    return needs.reference or (needs.support is not None and needs.support.source == "reference")


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def train_main(config_path: str | None, overrides: list[str], resume: str | None = None) -> int:
    """``verity train``, in one process or in each of torchrun's; only the main process prints."""
    cfg = load_config(config_path, overrides)
    problems = missing_files(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    seed_everything(cfg.train.seed, cfg.train.threads)
    world = World.start(cfg.train.device)
    try:
        return _train(cfg, world, resume)
    finally:
        world.close()


def choose_run(cfg: Config, world: World, resume: str | None) -> tuple[Path, Path | None, str]:
    """The run folder this job writes, the checkpoint it resumes from (if any), and a line saying
    which: the main process decides (a new run folder, or the run ``--resume`` names), the others
    take its answer."""
    decision: tuple[Path, Path | None, str] | str | None = None
    if world.is_main:
        try:
            decision = _decide_run(Path(cfg.train.output_dir), resume)
        except RunError as e:
            decision = str(e)
    decision = world.gather(decision)[0]
    if isinstance(decision, str):
        raise RunError(decision)
    return decision


def _decide_run(name_dir: Path, resume: str | None) -> tuple[Path, Path | None, str]:
    run = run_to_resume(resume, name_dir) if resume else None
    if run is None:
        run = new_run_dir(name_dir)
        first = " (no earlier run of this name to resume)" if resume == "auto" else ""
        return run, None, f"run folder {run}{first}"
    given = Path(resume) if resume != "auto" else None
    newest = (checkpoints(run) or [None])[-1]
    if given is not None and is_checkpoint(given) and given.resolve() != newest.resolve():  # a branch: the later checkpoints stay as they are
        branch = new_run_dir(name_dir)
        return branch, given, f"resuming from {given} in a new run folder {branch} ({run} has later checkpoints, left as they are)"
    point_latest(run)
    checkpoint = newest
    if checkpoint is None:  # what a restarted torchrun job meets before its first checkpoint
        return run, None, f"no checkpoint in {run} yet: starting it from the beginning"
    return run, checkpoint, f"resuming from {checkpoint}"


def _train(cfg: Config, world: World, resume: str | None) -> int:
    console = Console(stderr=True, quiet=not world.is_main)
    run, checkpoint, said = choose_run(cfg, world, resume)
    console.print(said)
    try:
        return _train_run(cfg, world, run, checkpoint, console)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):  # a full disk under the run folder: metrics, logs, a checkpoint
            raise OutOfSpace.while_writing(e, run) from None
        raise


def _train_run(cfg: Config, world: World, run: Path, checkpoint: Path | None, console: Console) -> int:
    if world.is_main:
        quiet_third_parties(run / "train.log")
        (run / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    else:
        quiet_third_parties(None)
    train, test = load_data(cfg)
    if world.distributed:
        console.print(f"{world.world_size} processes on {world.device.type}, {cfg.rollout.prompts_per_step} prompts a step shared among them")
    model_path = str(checkpoint / "model") if checkpoint else cfg.model.path
    console.print(f"loading model {model_path}" + (" (first use converts the shipped GGUF, about 30 s)" if needs_conversion(model_path) else ""))
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, world.device)
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()  # transformers checkpoints layers in training mode only
    ref_model = load_model(cfg.model.path, world.device).eval().requires_grad_(False) if needs_reference_model(cfg) else None
    with ExitStack() as stack:
        scorer = reward_services(cfg, train + test, stack, world)
        tool = python_tool(cfg, stack, world)
        trainer = Trainer(cfg, model, tokenizer, make_engine(cfg, model, tokenizer, model_path, cfg.rollout.batch_size), scorer, train, test, ref_model=ref_model, console=console, world=world, run_dir=run, tool=tool)
        if checkpoint:
            trainer.restore(checkpoint)
        result = trainer.fit()
        world.barrier()  # no machine stops its local services while another process still scores
    before, after = result.before, result.after
    if before and after:
        console.print(f"held-out accuracy: {before['eval/accuracy']:.1%} before -> {after['eval/accuracy']:.1%} after {cfg.train.steps} steps (seed {cfg.train.seed})")
    elif after:
        console.print(f"held-out accuracy after {cfg.train.steps} steps: {after['eval/accuracy']:.1%}")
    console.print(f"run: {run}  (metrics.jsonl, rollouts.jsonl, tensorboard/, {result.plot.name if result.plot else 'curves.png'}, train.log)")
    return 0


def eval_main(checkpoint: str, data: str, overrides: list[str]) -> int:
    console = Console(stderr=True)
    cfg = load_config(None, overrides)
    ckpt = resolve_checkpoint(Path(checkpoint))
    samples = load_samples(data, cfg.data.verl_verifier)
    quiet_third_parties(None)
    tokenizer = load_tokenizer(str(ckpt / "model"))
    model = load_model(str(ckpt / "model"), resolve_device(cfg.train.device))
    with ExitStack() as stack:
        scorer = reward_services(cfg, samples, stack)
        r = cfg.rollout
        runner = EpisodeRunner(make_engine(cfg, model, tokenizer, str(ckpt / "model"), cfg.eval.batch_size), tokenizer, python_tool(cfg, stack), r.max_tool_calls, r.tool_output_chars)
        result = evaluate(runner, samples, scorer, cfg.eval.max_new_tokens, cfg.data.chat_template).values()
    console.print(f"{ckpt}: accuracy {result['eval/accuracy']:.1%} on {len(samples)} samples, mean length {result['eval/mean_length']:.1f} tokens")
    return 0
