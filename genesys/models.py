"""Notification models, named as Genesys names them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    connect_uri: str
    expires: datetime | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Channel:
        raw = body.get("expires")
        expires = datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
        return cls(id=str(body["id"]), connect_uri=str(body["connectUri"]), expires=expires)

    def expires_at(self) -> float | None:
        return self.expires.timestamp() if self.expires else None


@dataclass(frozen=True, slots=True)
class ChannelTopic:
    id: str
    state: str = "Permitted"
    rejection_reason: str | None = None
    missing_permissions: tuple[str, ...] = ()

    @property
    def permitted(self) -> bool:
        return self.state != "Rejected"

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> ChannelTopic:
        return cls(
            id=str(body["id"]),
            state=str(body.get("state") or "Permitted"),
            rejection_reason=body.get("rejectionReason"),
            missing_permissions=tuple(body.get("missingPermissions") or ()),
        )
