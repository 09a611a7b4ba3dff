"""Who the client is, behind a reverse proxy only when the proxy is trusted.

By default the client is the TCP peer. With EXCHANGE_TRUSTED_PROXIES (addresses or networks,
comma-separated), a request from one of them is taken to come from the address its
X-Forwarded-For names: the rightmost address that is not itself a trusted proxy. A header from
anyone else is ignored, so nobody can pick the address their attempts count against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: list[Network] | None = None) -> None:
        self.networks = networks or []

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrustedProxies:
        raw = env.get("EXCHANGE_TRUSTED_PROXIES", "").strip()
        try:
            return cls([ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()])
        except ValueError as exc:
            raise SystemExit(f"EXCHANGE_TRUSTED_PROXIES must list addresses or networks, got {raw!r}") from exc

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        if not forwarded_for or not self.trusted(peer):
            return peer
        for hop in reversed([hop.strip() for hop in forwarded_for.split(",")]):
            if hop and not self.trusted(hop):
                return hop
        return peer
