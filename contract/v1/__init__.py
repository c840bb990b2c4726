"""Generated protobuf and gRPC modules of the wire contract (protobuf package ``verity.v1``).

Do not edit: change proto/verity/v1/*.proto and run ``python proto/generate.py``.
"""
