"""One webhook POST under one deadline: connect, send, status line, headers and body together.

``urllib``'s timeout bounds each socket operation, not the exchange: a receiver that sent one header
line every 5 s held a worker 100 s against a 10 s timeout. Here every read gets what is left of the
deadline, and stops after ``max_bytes``.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from dataclasses import dataclass

from .webhook_targets import WebhookTarget


class DeadlinePassed(TimeoutError):
    pass


class AnswerTooLarge(OSError):
    pass


@dataclass(frozen=True)
class Exchange:
    status: int | None  # None when nothing answered (or the answer could not be read)
    error: str  # '' on a 2xx
    timed_out: bool = False  # the deadline passed: the receiver is slow, not only wrong


class _DeadlineReader(io.RawIOBase):
    """The response side of a socket: each read waits at most until the deadline, in all ``max_bytes``."""

    def __init__(self, sock: socket.socket, deadline: float, max_bytes: int):
        self.sock, self.deadline, self.left = sock, deadline, max_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlinePassed("the deadline passed while reading the answer")
        if self.left <= 0:
            raise AnswerTooLarge("the answer is larger than WEBHOOK_MAX_RESPONSE_BYTES")
        self.sock.settimeout(remaining)
        view = memoryview(buffer)[: min(len(buffer), self.left)]
        try:
            count = self.sock.recv_into(view)
        except TimeoutError:
            raise DeadlinePassed("the deadline passed while reading the answer") from None
        self.left -= count
        return count


def _response_class(deadline: float, max_bytes: int):
    class BoundedResponse(http.client.HTTPResponse):
        def __init__(self, sock, *args, **kwargs):
            super().__init__(sock, *args, **kwargs)
            self.fp = io.BufferedReader(_DeadlineReader(sock, deadline, max_bytes), buffer_size=8192)

    return BoundedResponse


class _PinnedConnection(http.client.HTTPSConnection):
    """An HTTP or HTTPS connection to ``address`` for ``host`` (Host header and TLS name), under a deadline."""

    def __init__(self, target: WebhookTarget, address: str, *, deadline: float, max_bytes: int):
        context = ssl.create_default_context() if target.scheme == "https" else None
        super().__init__(target.host, target.port, context=context)
        self.address, self.deadline, self.tls = address, deadline, target.scheme == "https"
        self.response_class = _response_class(deadline, max_bytes)

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlinePassed("the deadline passed before the request was sent")
        return remaining

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), timeout=self._remaining())
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            self.sock.settimeout(self._remaining())
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)

    def send(self, data):
        if self.sock is not None:
            self.sock.settimeout(self._remaining())
        return super().send(data)


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:500]


def post(target: WebhookTarget, body: bytes, headers: dict[str, str], *, timeout: float, max_bytes: int) -> Exchange:
    """POST ``body`` to ``target`` (its first address that accepts a connection) within ``timeout`` seconds.

    The connection goes to an address the target check returned (never a fresh lookup of the name), the
    TLS certificate is checked against the host name, and nothing is followed: a 3xx is an answer like
    any other non-2xx, so the signature headers never travel to where a redirect points. Never raises:
    every outcome, an exception of ``http.client`` included, is a status (or None) and an error text,
    which the outbox records as an attempt.
    """
    deadline = time.monotonic() + timeout
    errors = []
    for address in target.addresses:
        connection = _PinnedConnection(target, address, deadline=deadline, max_bytes=max_bytes)
        try:
            try:
                connection.connect()
            except (OSError, ssl.SSLError) as exc:
                if isinstance(exc, TimeoutError | ssl.SSLError) or time.monotonic() >= deadline:
                    return Exchange(None, _describe(exc), timed_out=isinstance(exc, TimeoutError))
                errors.append(f"{address}: {_describe(exc)}")
                continue  # this address refused: try the next one the name resolved to
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            if 200 <= status < 300:
                return Exchange(status, "")
            if 300 <= status < 400:
                location = (response.getheader("Location") or "")[:200]
                return Exchange(status, f"HTTP {status}: redirects are not followed (to {location!r})")
            try:
                text = response.read(200).decode("utf-8", "replace").strip()
            except Exception:  # noqa: BLE001 - the status is what counts; the body only explains it
                text = ""
            return Exchange(status, f"HTTP {status}: {response.reason}" + (f": {text}" if text else ""))
        except Exception as exc:  # noqa: BLE001 - whatever the receiver does is a failed attempt, not a crash
            return Exchange(None, _describe(exc), timed_out=isinstance(exc, TimeoutError))
        finally:
            connection.close()
    return Exchange(None, "; ".join(errors) or "no address to connect to")
