"""verity: reinforcement learning from verifiable rewards.

This package is the top of the project: the ``verity`` command (``verity.cli``), which wires the
trainer, the reward services and the sandbox. Everything it wires lives in packages below it:
``trainer`` (the RL loop), ``rewards`` and ``sandbox`` (the services), ``serving`` (what every gRPC
server and client shares) and ``contract`` (the sample and score schema and the generated wire
types of proto/verity/v1).
"""

__version__ = "0.1.0"
