"""A verifier of your own, in place of the built-in math one: a small gRPC server speaking
verity.v1.Verifier (proto/verity/v1/verifier.proto), written without any of verity's server code.

It rewards a response whose last integer equals the reference's "answer" (strict: no LaTeX, no
fractions). Any language works the same way: implement Score and Describe, answer grpc.health.v1,
and point the trainer at it (rewards.endpoints.NAME=HOST:PORT, or replace a compose service).

    python server.py --port 50051 [--auth-token-file FILE]

With --auth-token-file it refuses calls that do not carry the token as 'authorization: Bearer
<token>' metadata, as verity's own services do (the trainer sends it: rewards.auth_token_file).
"""

from __future__ import annotations

import argparse
import hmac
import json
import re
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from contract.v1 import verifier_pb2 as pb  # generated from verifier.proto (grpcio-tools makes the same)
from contract.v1 import verifier_pb2_grpc as pb_grpc

LAST_INTEGER = re.compile(r"-?\d+(?!.*\d)", re.DOTALL)


def score(sample: pb.Sample) -> pb.Score:
    try:
        answer = int(json.loads(sample.reference_json)["answer"])
    except (ValueError, KeyError, TypeError):
        return pb.Score(id=sample.id, status=pb.STATUS_INVALID, detail='reference must be {"answer": <integer>}')
    found = LAST_INTEGER.search(sample.response)
    if found and int(found.group()) == answer:
        return pb.Score(id=sample.id, reward=1.0, status=pb.STATUS_OK, detail=f"last integer {found.group()} == {answer}")
    return pb.Score(id=sample.id, reward=0.0, status=pb.STATUS_WRONG, detail=f"last integer {found.group() if found else 'none'} != {answer}")


class RequireToken(grpc.ServerInterceptor):
    """UNAUTHENTICATED for a call without the token; health checks stay open."""

    def __init__(self, token: str):
        self.expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, details):
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        if details.method.startswith("/grpc.health.v1.") or hmac.compare_digest(sent.encode(), self.expected):
            return continuation(details)
        return grpc.unary_unary_rpc_method_handler(lambda request, context: context.abort(grpc.StatusCode.UNAUTHENTICATED, "send the stack's token"))


class LastInteger(pb_grpc.VerifierServicer):
    def Score(self, request, context):
        return pb.ScoreResponse(scores=[score(s) for s in request.samples])

    def Describe(self, request, context):
        schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
        return pb.VerifierInfo(name="last-integer", version="1", reference_schema_json=json.dumps(schema), max_batch_size=1024)


def main() -> None:
    parser = argparse.ArgumentParser(description="an example verifier: the last integer equals the answer")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--auth-token-file", help="refuse calls without the token in this file")
    args = parser.parse_args()
    interceptors = [RequireToken(open(args.auth_token_file).read().strip())] if args.auth_token_file else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)], interceptors=interceptors)
    pb_grpc.add_VerifierServicer_to_server(LastInteger(), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"0.0.0.0:{args.port}")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"last-integer verifier listening on 0.0.0.0:{port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=5).wait()


if __name__ == "__main__":
    main()
