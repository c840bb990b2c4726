"""What every verity gRPC service and client shares, whatever it serves.

server.py  the server: health checking, concurrency and message-size limits, TLS, graceful shutdown
tls.py     TLS and mTLS credentials from PEM files
auth.py    the optional shared token: checked by servers, sent by clients
health.py  a grpc.health.v1 client (container health checks, start-up waits)
local.py   verity's services started as local subprocesses on free loopback ports
client.py  call options, channels, replicas round-robin, deadlines and retries
"""
