"""Where a webhook may point: the one check of a target URL, at save and again before every delivery.

A webhook makes this service send requests to an address someone typed in, so an unchecked URL is
a way into the networks behind it (the cloud's metadata service at 169.254.169.254, PostgreSQL on
127.0.0.1:5432). The rules: ``webhook_target_check``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from allocations.errors import DomainError

# Names of cloud metadata services (GCP, AWS, Azure, Alibaba, OpenStack), refused whatever they resolve to.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.tencentyun.com",
        "100-100-100-200.alibaba",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: where to connect (``addresses``, as checked) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the tests replace this for names of their own)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def allowed_hosts() -> set[str]:
    return {h.strip().lower().rstrip(".").strip("[]") for h in settings.WEBHOOK_ALLOWED_HOSTS if h.strip()}


def address_refusal(address: str) -> str | None:
    """Why ``address`` is no public address (``'loopback'``, ``'private'``...), or None when it is one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an address"
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address carried inside IPv6 (mapped, 6to4, NAT64) is judged as that IPv4 address
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    for name in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):  # most telling first
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "not global"
    return None


def _refuse(message: str) -> DomainError:
    return DomainError(message, field="url")


def webhook_url_check(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and request path of ``url`` when its form is acceptable (no lookup)."""
    if not isinstance(url, str) or not url.strip():
        raise _refuse("url is required")
    url = url.strip()
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in url):
        raise _refuse("url must be printable ASCII without spaces (encode other characters)")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _refuse("url must start with https:// (or http:// to a host in WEBHOOK_ALLOWED_HOSTS)")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise _refuse("url must not carry credentials (user:password@); the signature authenticates the sender")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("url has no host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise _refuse("url has an invalid port") from None
    allowed = host in allowed_hosts()
    if scheme == "http" and not allowed:
        raise _refuse(f"url must use https (http only to a host in WEBHOOK_ALLOWED_HOSTS, not {host!r})")
    if host in METADATA_NAMES and not allowed:
        raise _refuse(f"url: {host!r} is a cloud metadata service")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port, path


def webhook_target_check(url: str) -> WebhookTarget:
    """``url`` checked and resolved, every address checked; ``DomainError(field='url')`` naming the reason.

    Refused unless its scheme is ``https`` (``http`` only for a host in ``WEBHOOK_ALLOWED_HOSTS``, for
    local use); it carries no credentials and only printable ASCII (no bidi overrides or zero-width
    characters that make a URL read differently than it resolves); its host is no metadata name and
    every address it resolves to is public (no loopback, private, link-local, multicast, reserved,
    unspecified or otherwise non-global address, IPv4 inside IPv6 included; a host in
    ``WEBHOOK_ALLOWED_HOSTS`` may resolve anywhere). The delivery connects to one of the addresses
    returned, never resolving the name again: a name that changes its answer between the check and
    the connection (DNS rebinding) cannot move the request.
    """
    scheme, host, port, path = webhook_url_check(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise _refuse(f"url: host {host!r} does not resolve ({exc.__class__.__name__})") from None
    if not addresses:
        raise _refuse(f"url: host {host!r} does not resolve")
    if host not in allowed_hosts():
        for address in addresses:
            reason = address_refusal(address)
            if reason is not None:
                raise _refuse(f"url: {host!r} resolves to {address}, a {reason} address (not allowed)")
    return WebhookTarget(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))
