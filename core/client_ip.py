"""The client's address: ``REMOTE_ADDR``, or the address a trusted proxy forwarded.

``X-Forwarded-For`` is anyone's to write, so it is read only when the request comes from
one of ``settings.TRUSTED_PROXIES`` (addresses or networks, e.g. ``10.0.0.0/8``); then
the client is the right-most address in it that is not itself a trusted proxy. Used by
the login lock-out (django-axes' ``AXES_CLIENT_IP_CALLABLE``) and the API throttles.
"""

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: Any) -> str:
    meta = getattr(request, "META", {})
    remote = str(meta.get("REMOTE_ADDR") or "")
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))
    if not networks or not _trusted(remote, networks):
        return remote
    forwarded = [a.strip() for a in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for address in reversed([a for a in forwarded if a]):
        if _trusted(address, networks):
            continue
        try:
            return str(ipaddress.ip_address(address))
        except ValueError:
            return remote  # a forged or broken header: the proxy's own address
    return remote
