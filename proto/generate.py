"""Regenerate the Python gRPC/protobuf modules from proto/verity/v1/*.proto.

Usage: python proto/generate.py [OUT_DIR]   (default: the repository root, giving contract/v1/*_pb2*.py)

The protobuf package stays ``verity.v1`` (so services are ``verity.v1.Verifier`` and
``verity.v1.Sandbox`` on the wire); the Python modules land in the ``contract`` package beside the
sample and score schema, through protoc's virtual path ``contract/v1=proto/verity/v1``.

The generated modules are committed; tests/test_proto.py regenerates them into a temporary folder
and fails on any difference, so edit the .proto files and rerun this script, never the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
SOURCES = PROTO_ROOT / "verity" / "v1"
MODULES = "contract/v1"  # where the generated modules go, relative to OUT_DIR


def proto_files() -> list[Path]:
    return sorted(SOURCES.glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc (from grpcio-tools) into out_dir; return the generated files."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [f"{MODULES}/{p.name}" for p in proto_files()]
    args = [
        "protoc",
        f"-I{MODULES}={SOURCES}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    return sorted((out_dir / MODULES).glob("*_pb2*.py*"))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT
    for path in generate(out):
        print(path)
