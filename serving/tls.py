"""TLS credentials for verity's gRPC servers and clients, from PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


@dataclass(frozen=True)
class TLSFiles:
    """A server's PEM files; with ``client_ca`` it requires client certificates signed by it (mTLS)."""

    cert: str
    key: str
    client_ca: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        ca = _read(self.client_ca)
        return grpc.ssl_server_credentials([(_read(self.key), _read(self.cert))], root_certificates=ca, require_client_auth=ca is not None)


def channel_credentials(ca: str, cert: str | None = None, key: str | None = None) -> grpc.ChannelCredentials:
    """Trust servers signed by ``ca``; present ``cert``/``key`` to servers that require mTLS."""
    return grpc.ssl_channel_credentials(root_certificates=_read(ca), private_key=_read(key), certificate_chain=_read(cert))
