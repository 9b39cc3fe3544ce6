"""The token reader's alternatives: current first, then AWSPREVIOUS when it differs, has life and was not refused."""

from __future__ import annotations

from typing import Any

import pytest

from genesys.token_reader import TokenReader, TokenUnavailableError
from tests.support.fakes import token


class Stages:
    """A SecretSource with one value per version stage; ``down`` makes every read fail."""

    def __init__(self, **stages: Any) -> None:
        self.stages = {k: (v.to_json() if v is not None else None) for k, v in stages.items()}
        self.down = False
        self.reads = 0

    def get(
        self, name: str, max_age: int | None = None, transform: Any = None, force_fetch: bool = False, **sdk: Any
    ) -> Any:
        self.reads += 1
        if self.down:
            raise RuntimeError("GetParameterError: endpoint unreachable")
        stage = sdk.get("VersionStage", "AWSCURRENT")
        if stage not in self.stages:
            raise RuntimeError("ResourceNotFoundException")
        return self.stages[stage]


NOW = 1_000_000.0


def reader(source: Stages) -> TokenReader:
    return TokenReader(source, "o/token", clock=lambda: NOW)


def test_current_then_previous_when_both_have_enough_life():
    """Given AWSCURRENT and a different AWSPREVIOUS with an hour left, both are offered, current first."""
    source = Stages(AWSCURRENT=token("new", expires_at=NOW + 7200), AWSPREVIOUS=token("old", expires_at=NOW + 3600))
    assert [t.access_token for t in reader(source).alternatives(1200)] == ["new", "old"]


def test_a_previous_token_without_enough_life_is_not_offered():
    """Given AWSPREVIOUS with 10 minutes left and 20 needed, only the current token is offered."""
    source = Stages(AWSCURRENT=token("new", expires_at=NOW + 7200), AWSPREVIOUS=token("old", expires_at=NOW + 600))
    assert [t.access_token for t in reader(source).alternatives(1200)] == ["new"]


def test_a_refused_token_is_never_offered_again():
    """Given Genesys refused AWSPREVIOUS, the reader offers only the current token from then on."""
    source = Stages(AWSCURRENT=token("new", expires_at=NOW + 7200), AWSPREVIOUS=token("old", expires_at=NOW + 3600))
    tokens = reader(source)
    tokens.reject(tokens.alternatives(1200)[1])
    assert [t.access_token for t in tokens.alternatives(1200)] == ["new"]


def test_the_cached_token_serves_while_secrets_manager_is_down():
    """Given a token read once, an outage of Secrets Manager still leaves that token on offer."""
    source = Stages(AWSCURRENT=token("new", expires_at=NOW + 7200))
    tokens = reader(source)
    assert tokens.current(1200).access_token == "new"
    source.down = True
    assert [t.access_token for t in tokens.alternatives(1200)] == ["new"]


def test_no_token_at_all_is_a_clear_error_without_the_value():
    """Given a secret with no usable token, the error names the secret and says when to retry."""
    source = Stages(AWSCURRENT=token("SECRET-VALUE", expires_at=NOW + 30))
    with pytest.raises(TokenUnavailableError, match=r"o/token has 30 s left, needs 1200 s") as caught:
        reader(source).alternatives(1200)
    assert "SECRET-VALUE" not in str(caught.value)
    assert caught.value.retry_after > 0
