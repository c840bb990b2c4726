"""Who may call a verity service: an optional shared token, sent as call metadata.

A server given a token answers every call that does not carry ``authorization: Bearer <token>``
with UNAUTHENTICATED, before the call reaches the service; grpc.health.v1 stays open, so container
health checks and load balancers need no token. Clients send the token on every call. The token
works with or without TLS; over plaintext it keeps out callers that do not know it but can be read
off the network, so use it with TLS (or on a private network such as the compose stack's).
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path

import grpc

METADATA_KEY = "authorization"
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)  # methods that need no token


class TokenFileError(ValueError):
    """A token file that cannot be used; the message names the option and the fix."""


def read_token_file(path: str | Path | None, option: str) -> str | None:
    """The token in ``path`` (surrounding whitespace removed; None without a path). ``option``
    names the setting that gave the path, for the error message."""
    if path is None:
        return None
    try:
        token = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise TokenFileError(f"{option}: cannot read {path} ({e.__class__.__name__}: {getattr(e, 'strerror', None) or e}): give a readable file holding the token") from None
    if not token or any(c.isspace() for c in token) or not token.isprintable():
        raise TokenFileError(f"{option}: {path} must hold one token of printable characters without spaces (e.g. the output of `openssl rand -hex 32`)")
    return token


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    """The metadata a client sends with each call (None without a token)."""
    return ((METADATA_KEY, f"Bearer {token}"),) if token else None


class TokenAuth(grpc.aio.ServerInterceptor):
    """Refuses calls without the server's token as UNAUTHENTICATED; health checks pass."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        if details.method.startswith(OPEN_PREFIXES):
            return await continuation(details)
        sent = dict(details.invocation_metadata or ()).get(METADATA_KEY, "")
        if hmac.compare_digest(sent.encode() if isinstance(sent, str) else sent, self._expected):
            return await continuation(details)
        return _refusal("a call without this service's token" if not sent else "a call with a wrong token")


def _refusal(what: str) -> grpc.RpcMethodHandler:
    message = f"{what}: send it as 'authorization: Bearer <token>' metadata (verity score --auth-token-file, rewards.auth_token_file)"

    async def refuse(request, context: grpc.aio.ServicerContext):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(refuse)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
