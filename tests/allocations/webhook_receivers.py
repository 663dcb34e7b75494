"""Misbehaving webhook receivers on 127.0.0.1: each connection gets the request read, then ``answer(conn)``.

They write raw bytes, so they can do what no well-formed server does: drip a header line every
half second, send a bad status line, 101 headers or a 70 KiB line, redirect.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable


class RawReceiver:
    def __init__(self, answer: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None):
        self.answer, self.tls = answer, tls
        self.server_names: list[str | None] = []  # the TLS name (SNI) each client asked for
        self.requests: list[bytes] = []
        self.received_at: list[float] = []  # time.monotonic() when each request was read
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/orders"
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket):
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                if self.tls is not None:
                    self.tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
                    conn = self.tls.wrap_socket(conn, server_side=True)
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                self.received_at.append(time.monotonic())
                self.answer(conn)
            except OSError:
                pass  # the client gave up: what these receivers are for

    def __enter__(self) -> RawReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.listener.close()


def answer_with(raw: bytes) -> Callable[[socket.socket], None]:
    def answer(conn):
        conn.sendall(raw)

    return answer


def dripping_headers(every: float = 0.5, lines: int = 40) -> Callable[[socket.socket], None]:
    """A status line, then one header line every ``every`` seconds: never a whole answer in time."""

    def answer(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for i in range(lines):
            time.sleep(every)
            conn.sendall(b"X-Drip-%d: 1\r\n" % i)
        conn.sendall(b"Content-Length: 0\r\n\r\n")

    return answer


OK = answer_with(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
BAD_STATUS_LINE = answer_with(b"HTTX/1.1 abc\r\n\r\n")
TOO_MANY_HEADERS = answer_with(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(101)) + b"\r\n")
LONG_LINE = answer_with(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (64 * 1024 + 10) + b"\r\n\r\n")
# within http.client's limits (60 lines under 64 KiB each) but 240 KiB in all: past the cap on what is read
LARGE_HEADERS = answer_with(
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 4096) for i in range(60)) + b"\r\n"
)


def redirect_to(location: str) -> Callable[[socket.socket], None]:
    return answer_with(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())


def header_of(request: bytes, name: str) -> str | None:
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def body_of(request: bytes) -> bytes:
    return request.split(b"\r\n\r\n", 1)[1]


def self_signed(name: str, folder) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh self-signed certificate for ``name``, and the certificate's PEM path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)
