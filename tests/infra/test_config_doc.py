"""The configuration reference is the models': regenerated, it is what is committed."""

from __future__ import annotations

import json

from infra.config import BridgeConfig
from infra.config_doc import MARKDOWN, SCHEMA, default_of, markdown, schema


def test_the_configuration_reference_and_schema_are_what_the_models_say():
    """Given the models that validate the configuration, docs/configuration.md and its JSON schema are current:
    a default changed in code and not in the documentation fails here (run python -m infra.config_doc)."""
    assert MARKDOWN.read_text() == markdown()
    assert SCHEMA.read_text() == schema()


def test_documented_defaults_are_the_models_defaults():
    """Given a few defaults people rely on, the reference states exactly the model's value."""
    page = MARKDOWN.read_text()
    for name in ("worker_replicas", "worker_vcpu", "shard_size", "log_retention_days"):
        expected = json.dumps(BridgeConfig.model_fields[name].default)
        assert f"| `{name}` |" in page
        assert default_of(BridgeConfig, name) == f"`{expected}`"
        assert f"| `{name}` | " in page and f"| `{expected}` |" in page.split(f"| `{name}` |")[1].split("\n")[0]
