"""``verity train --check``: validate a config without loading a model, and show what it resolves to.

It prints the resolved config (defaults, file and overrides merged, each algorithm's own defaults
applied), the step's algorithms with what they need of the loop, and every registered algorithm.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import yaml

from trainer.algorithms.registry import registered
from trainer.algorithms.types import Needs
from trainer.config import Config, ConfigError
from trainer.model import DEFAULT_MODEL

TITLES = {"advantage estimator": "advantage estimators (algorithm.advantage)", "policy loss": "policy losses (algorithm.loss)", "transform": "transforms (active while their section turns them on)"}


def missing_files(cfg: Config) -> list[str]:
    """The files the config names that do not exist, each with its key and a fix."""
    named = {"data.train": cfg.data.train, "data.test": cfg.data.test, "rewards.tls_ca": cfg.rewards.tls_ca, "rewards.tls_cert": cfg.rewards.tls_cert, "rewards.tls_key": cfg.rewards.tls_key, "rewards.auth_token_file": cfg.rewards.auth_token_file}
    problems = [f"{key}: {path} does not exist: give the path of an existing file" for key, path in named.items() if path and not Path(path).is_file()]
    model = Path(cfg.model.path).expanduser()
    local = cfg.model.path.startswith(("/", "./", "../", "~")) or model.exists()  # else a hub id, where a hub is reachable
    if cfg.model.path != DEFAULT_MODEL and local and not model.is_dir():
        problems.append(f"model.path: {cfg.model.path} is not a folder: give a local Hugging Face model folder, or {DEFAULT_MODEL}")
    return problems


def describe_needs(needs: Needs) -> str:
    """The needs that differ from nothing, as ``name=value`` pairs."""
    empty = Needs()
    shown = [f"{f.name}={getattr(needs, f.name)}" for f in fields(Needs) if getattr(needs, f.name) != getattr(empty, f.name)]
    return ", ".join(shown) or "nothing beyond log-probs, advantages and the mask"


def check_report(cfg: Config) -> str:
    """The resolved config, the step's algorithms and the registries, as text; raises ConfigError
    when a named file is missing."""
    problems = missing_files(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    lines = ["# resolved config", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).rstrip(), "", "# this config's algorithms"]
    for label, reg, params in cfg.algorithm.parts():
        lines.append(f"{label}: {reg.summary}")
        lines.append(f"    needs: {describe_needs(reg.needs(params))}")
    lines.append(f"the step needs: {describe_needs(cfg.algorithm.needs())}")
    lines += ["", "# registered algorithms"]
    for kind, table in registered().items():
        lines.append(TITLES[kind])
        for name, reg in table.items():
            section = f" [algorithm.{reg.params.section}]" if reg.params else ""
            lines.append(f"  {name:<16}{section} {reg.summary}")
    return "\n".join(lines)
