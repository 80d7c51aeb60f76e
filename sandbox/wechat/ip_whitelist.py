"""The account's IP whitelist: only listed addresses may fetch an access token.

WeChat refuses ``cgi-bin/token`` and ``cgi-bin/stable_token`` from an address that is not
on the whitelist set at mp.weixin.qq.com > Settings and development > Basic configuration >
IP whitelist (developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html:
"调用接口时需要设置访问来源IP为白名单"), answering 40164 with the address it saw, e.g.
``invalid ip 118.190.42.90 ipv6 ::ffff:118.190.42.90, not in whitelist rid: …`` (the
wording as WeChat's servers send it, seen in many public bug reports). Entries are single
addresses or CIDR blocks, as the console takes them.

The sandbox's account starts with the loopback addresses listed, as if its admin had
added the machine the bridge runs on; ``PUT /__sandbox__/wechat/ip-whitelist`` changes it.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable

from sandbox.wechat.errors import ApiError

LOOPBACK = ("127.0.0.1", "::1")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpWhitelist:
    """The addresses (or CIDR blocks) allowed to fetch tokens; thread-safe."""

    def __init__(self, entries: Iterable[str] = LOOPBACK) -> None:
        self._lock = threading.Lock()
        self._networks: tuple[Network, ...] = ()
        self.replace(entries)

    def replace(self, entries: Iterable[str]) -> None:
        """Set the whitelist.

        Raises:
            ValueError: an entry is neither an address nor a CIDR block.
        """
        networks = tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)
        with self._lock:
            self._networks = networks

    @property
    def entries(self) -> list[str]:
        with self._lock:
            return [str(n) for n in self._networks]

    def check(self, client_ip: str | None) -> None:
        """Let ``client_ip`` fetch a token, or refuse it as WeChat does.

        Raises:
            ApiError: 40164 naming the address, in WeChat's wording.
        """
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            raise ApiError(40164, f"invalid ip {client_ip}, not in whitelist") from None
        mapped = getattr(address, "ipv4_mapped", None) or address
        with self._lock:
            allowed = any(mapped in n or address in n for n in self._networks)
        if not allowed:
            v4 = str(mapped) if mapped.version == 4 else None
            said = f"{v4} ipv6 ::ffff:{v4}" if v4 else str(address)
            raise ApiError(40164, f"invalid ip {said}, not in whitelist")
