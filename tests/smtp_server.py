"""A real SMTP server in the test process (aiosmtpd on 127.0.0.1) that keeps what arrives, and
a port nothing listens on (SMTP down). `start()` returns once the server answers, so tests
never wait or sleep; a message has arrived by the time the client's send returns (the server
answers the DATA command after its handler has kept the message)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (the OS gives a free one; it is closed at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Arrived:
    """One message as the server received it: the envelope and the parsed mail."""

    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def to(self) -> str:
        return self.message["To"]

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def body(self) -> str:
        return self.message.get_content()


@dataclass
class Handler:
    """Keeps every message; refuses recipients in `refuse` with a permanent 550."""

    arrived: list[Arrived] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.original_content, policy=default_policy)
        self.arrived.append(Arrived(envelope.mail_from, list(envelope.rcpt_tos), mail))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd's Controller on a free port of 127.0.0.1. With `tls` (a server SSLContext) it
    requires STARTTLS, and with `logins` ({user: password}) AUTH over it."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, logins: dict | None = None):
        self.handler = Handler()
        self.port = free_port()
        options: dict = {}
        if tls is not None:
            options.update(tls_context=tls, require_starttls=True)
        if logins is not None:
            options.update(
                authenticator=_authenticator(logins), auth_required=True, auth_require_tls=True
            )
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    @property
    def arrived(self) -> list[Arrived]:
        return self.handler.arrived

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def _authenticator(logins: dict):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        # handled=False: the server answers (235, or 535 for a wrong password) itself.
        return AuthResult(success=logins.get(user) == password, handled=False)

    return authenticate


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1 made on the spot: (the server's context, a client context
    that trusts exactly that certificate)."""
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client
