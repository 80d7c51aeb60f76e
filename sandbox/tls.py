"""A throwaway certificate authority for the sandbox's HTTPS servers.

simple-salesforce only builds ``https://`` URLs, so the Salesforce emulator must speak TLS.
:class:`SandboxTLS` makes a CA and a server certificate for 127.0.0.1/localhost with
trustme, writes them to a directory, and writes a CA bundle that holds the system's roots
plus the sandbox CA: point ``REQUESTS_CA_BUNDLE`` at it and requests trusts both.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import certifi
import trustme


@dataclass
class SandboxTLS:
    """Paths of the sandbox's certificate files."""

    directory: Path
    cert_file: Path
    key_file: Path
    ca_file: Path
    bundle_file: Path

    @classmethod
    def create(cls, directory: Path | None = None) -> SandboxTLS:
        directory = Path(directory or tempfile.mkdtemp(prefix="bridge-sandbox-tls-"))
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="WeChat-Salesforce bridge sandbox")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        paths = cls(
            directory=directory,
            cert_file=directory / "server.pem",
            key_file=directory / "server.key",
            ca_file=directory / "ca.pem",
            bundle_file=directory / "ca-bundle.pem",
        )
        cert.cert_chain_pems[0].write_to_path(str(paths.cert_file))
        for pem in cert.cert_chain_pems[1:]:
            pem.write_to_path(str(paths.cert_file), append=True)
        cert.private_key_pem.write_to_path(str(paths.key_file))
        ca.cert_pem.write_to_path(str(paths.ca_file))
        system = Path(os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())
        roots = system.read_bytes() if system.is_file() else b""
        paths.bundle_file.write_bytes(roots.rstrip(b"\n") + b"\n" + ca.cert_pem.bytes())
        return paths
