"""The code verifier: programs from responses, run in the sandbox against tests."""
