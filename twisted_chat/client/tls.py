"""
How the client connects: its TLS settings, and one human line for each way a
connection can fail.

pyOpenSSL comes with the C{tls} extra and is imported only when C{--tls} is
given, so the client runs without it for plain connections.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, error
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat import text

if TYPE_CHECKING:
    from OpenSSL import SSL

PROGRAM = "twisted_chat.client"


def describe_connect_error(failure: Failure) -> str:
    """One human line for why a connection could not be made."""
    if failure.check(error.ConnectionRefusedError):
        return "connection refused"
    if failure.check(error.DNSLookupError):
        return "unknown host"
    if failure.check(error.TimeoutError, defer.TimeoutError):
        return "no answer (timed out)"
    # By name: these modules are only loaded when TLS is in use.
    if failure.check("service_identity.exceptions.VerificationError"):
        return "TLS failed: the server's certificate is not for this host name"
    if failure.check("OpenSSL.SSL.Error"):
        assert failure.value is not None
        return f"TLS failed: {_ssl_reason(failure.value)}"
    if failure.check(error.ConnectionDone, error.ConnectionLost):
        return "the server closed the connection during the TLS handshake"
    return failure.getErrorMessage()


def _ssl_reason(failure: BaseException) -> str:
    """The most specific words OpenSSL gave, e.g. 'certificate verify failed'."""
    reasons = [
        entry[2]
        for entry in (failure.args[0] if failure.args else [])
        if isinstance(entry, tuple) and len(entry) == 3 and entry[2]
    ]
    return reasons[-1] if reasons else str(failure) or type(failure).__name__


def tls_options(
    arguments: argparse.Namespace,
) -> IOpenSSLClientConnectionCreator | None:
    """The client's TLS settings from --tls, --ca and --insecure, or None."""
    if not arguments.tls:
        return None
    try:
        from OpenSSL import SSL, crypto
        from twisted.internet import ssl
    except ImportError:
        raise SystemExit(f"{PROGRAM}: {text.TLS_MISSING}") from None
    if arguments.insecure:
        sys.stderr.write(
            f"{PROGRAM}: warning: --insecure: the server's certificate is not "
            "checked; anyone in between can read and change this chat\n"
        )
        return _UnverifiedTLS()
    trust: Any = None
    if arguments.ca:
        refusal = f"{PROGRAM}: cannot use --ca {arguments.ca}"
        try:
            with open(arguments.ca, "rb") as pem:
                trust = ssl.Certificate.loadPEM(pem.read())
        except OSError as problem:
            reason = problem.strerror or type(problem).__name__
            raise SystemExit(f"{refusal}: {reason.lower()}") from None
        except (crypto.Error, SSL.Error, ValueError):
            raise SystemExit(f"{refusal}: not a PEM certificate") from None
    return ssl.optionsForClientTLS(arguments.host, trustRoot=trust)


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedTLS:
    """TLS that accepts any certificate: for --insecure only."""

    def __init__(self) -> None:
        from twisted.internet import ssl

        self._context = ssl.CertificateOptions(verify=False).getContext()

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        from OpenSSL import SSL

        return SSL.Connection(self._context, None)
