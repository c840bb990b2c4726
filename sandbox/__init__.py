"""Secure code execution: isolation, resource limits and the Sandbox gRPC service of proto/verity/v1/sandbox.proto.

isolation.py   bubblewrap's command line, its binary, the slot uids
seccomp.py     the syscall filter
limits.py      defaults and ceilings of the resource limits
runner.py      the trusted process inside each environment (runs the steps of one job)
environment.py one environment, started ahead of its job, used once
pool.py        slots and the bounded queue
execution.py   requests to jobs, step records to statuses
languages.py   Python 3, and C++ when g++ is installed
service.py     the gRPC service
"""
