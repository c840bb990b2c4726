"""verity: reinforcement learning from verifiable rewards.

This package holds the command-line entry point (``verity.cli``) and the generated wire types of
the gRPC contract (``verity.v1``, generated from proto/verity/v1 by proto/generate.py).
"""

__version__ = "0.1.0"
