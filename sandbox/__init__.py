"""Secure code execution: isolation, resource limits and the Sandbox gRPC service of proto/verity/v1/sandbox.proto."""
