"""Reward services: the Verifier contract and its gRPC host, the math, telecom and code verifiers,
the verifier client and the router."""
