"""TLS and mutual TLS for standalone gRPC servers and the channels that call them.

A server serves TLS when ``SOLACE_TLS_CERT_FILE`` and ``SOLACE_TLS_KEY_FILE`` are set, and
requires client certificates signed by ``SOLACE_TLS_CLIENT_CA_FILE`` (mutual TLS) when that is
set too. With none of them it serves plaintext (local and in-cluster behind a mesh). A client
trusts ``SOLACE_TLS_CA_FILE`` (the system roots when empty) and presents
``SOLACE_TLS_CLIENT_CERT_FILE``/``SOLACE_TLS_CLIENT_KEY_FILE`` when a server asks for mTLS.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from services.common.config import ENV_PREFIX, TlsSettings
from services.common.errors import InvalidArgument


def server_mode(tls: TlsSettings) -> str:
    """``"plaintext"``, ``"tls"`` or ``"mtls"``: what the server will say at start."""
    if not tls.cert_file:
        return "plaintext"
    return "mtls" if tls.client_ca_file else "tls"


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgument(ENV_PREFIX + setting.upper(), f"cannot read {path}: {exc}") from exc


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """Credentials for ``server.add_secure_port``; None means serve plaintext."""
    cert = tls.cert_file
    key = tls.key_file
    client_ca = tls.client_ca_file
    if not cert and not key:
        if client_ca:
            raise InvalidArgument(
                "SOLACE_TLS_CLIENT_CA_FILE", "mutual TLS needs the server's cert and key too"
            )
        return None
    if not (cert and key):
        raise InvalidArgument("SOLACE_TLS_CERT_FILE", "set both the cert and the key file")
    pair = (_read("tls_key_file", key), _read("tls_cert_file", cert))
    if client_ca:
        return grpc.ssl_server_credentials(
            [pair],
            root_certificates=_read("tls_client_ca_file", client_ca),
            require_client_auth=True,
        )
    return grpc.ssl_server_credentials([pair])


def channel_credentials(
    ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> grpc.ChannelCredentials:
    """Credentials for ``grpc.aio.secure_channel``: trust ``ca_file`` (system roots if empty),
    and present ``cert_file``/``key_file`` to servers that require mutual TLS."""
    if bool(cert_file) != bool(key_file):
        raise InvalidArgument("SOLACE_TLS_CLIENT_CERT_FILE", "set both the cert and the key")
    return grpc.ssl_channel_credentials(
        root_certificates=_read("tls_ca_file", ca_file) if ca_file else None,
        private_key=_read("tls_client_key_file", key_file) if key_file else None,
        certificate_chain=_read("tls_client_cert_file", cert_file) if cert_file else None,
    )


def client_channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    """Channel credentials from the TLS settings; None when no client TLS setting is given."""
    ca = tls.ca_file
    cert = tls.client_cert_file
    key = tls.client_key_file
    if not (ca or cert or key):
        return None
    return channel_credentials(ca, cert, key)
