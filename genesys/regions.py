"""Region domains and the hosts derived from them.

Local runs point both hosts at the emulator with ``GENESYS_API_URL`` / ``GENESYS_LOGIN_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

REGION_DOMAINS: frozenset[str] = frozenset(
    {
        "mypurecloud.com",
        "mypurecloud.ie",
        "mypurecloud.com.au",
        "mypurecloud.jp",
        "mypurecloud.de",
        "usw2.pure.cloud",
        "cac1.pure.cloud",
        "apne2.pure.cloud",
        "euw2.pure.cloud",
        "aps1.pure.cloud",
        "sae1.pure.cloud",
        "mec1.pure.cloud",
        "apne3.pure.cloud",
        "euc2.pure.cloud",
        "mxc1.pure.cloud",
        "apse1.pure.cloud",
        "use2.us-gov-pure.cloud",
    }
)


class UnknownRegionError(ValueError):
    """The environment is neither a known region domain nor an http(s) base URL."""


@dataclass(frozen=True, slots=True)
class Hosts:
    api_url: str
    login_url: str


def resolve_hosts(environment: str, env: Mapping[str, str] | None = None) -> Hosts:
    """Hosts for a region domain (``mypurecloud.ie``) or a local base URL (``http://127.0.0.1:8123``).

    ``GENESYS_API_URL`` and ``GENESYS_LOGIN_URL`` override what the environment implies.
    """
    env = os.environ if env is None else env
    if environment.startswith(("http://", "https://")):
        api = login = environment.rstrip("/")
    elif environment in REGION_DOMAINS:
        api, login = f"https://api.{environment}", f"https://login.{environment}"
    else:
        known = ", ".join(sorted(REGION_DOMAINS))
        raise UnknownRegionError(f"unknown Genesys region domain {environment!r}; expected one of: {known}")
    return Hosts(
        api_url=env.get("GENESYS_API_URL", api).rstrip("/"),
        login_url=env.get("GENESYS_LOGIN_URL", login).rstrip("/"),
    )
