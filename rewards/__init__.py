"""Reward services: the Verifier contract, its gRPC host, the math checker, the client and router."""
