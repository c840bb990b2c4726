"""The contract every part of verity shares, and the bottom layer: it imports nothing of verity.

schema.py  the sample and score shapes (docs/schema.md), validated with the field named on error
files.py   JSONL and Parquet readers that report each bad row instead of crashing
wire.py    conversions between those records and the protobuf messages
v1/        the generated protobuf and gRPC modules of proto/verity/v1 (python proto/generate.py)
"""
