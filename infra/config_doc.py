"""docs/configuration.md and docs/configuration.schema.json, generated from the models that validate the
configuration, so what the documentation says is what synth and the worker enforce.

``python -m infra.config_doc`` writes both; tests/infra/test_config_doc.py fails when they are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from genesys.org_config import TopicSelection
from infra.config import ArchiveConfig, BridgeConfig, ClientConfig, EventBridgeSource, Idp, Org, SamlClient
from stream_worker.settings import ENV_NAMES, WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = ROOT / "docs" / "configuration.md"
SCHEMA = ROOT / "docs" / "configuration.schema.json"
SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("`bridge` (the cdk.json context object)", BridgeConfig),
    ("an org (`bridge.orgs[]`)", Org),
    ("an org's topics (`topics`, `templates`: shared with the worker)", TopicSelection),
    ("an OAuth client (`bridge.orgs[].clients[]`)", ClientConfig),
    ("the EventBridge source (`bridge.orgs[].eventbridge`)", EventBridgeSource),
    ("SAML2 bearer (`bridge.orgs[].saml`)", SamlClient),
    ("the IdP of the vend API (`bridge.idp`)", Idp),
    ("the write-once archive (`bridge.archive`)", ArchiveConfig),
)


def default_of(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    if field.default_factory is not None:
        return "computed"
    if isinstance(field.default, BaseModel):
        return "see below"
    return "none" if field.default is None else f"`{json.dumps(field.default, default=str)}`"


def rows(model: type[BaseModel], names: dict[str, str] | None = None) -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        shown = names.get(name, name) if names else name
        kind = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        about = _cell(field.description or "")
        lines.append(f"| `{shown}` | {_cell(kind)} | {default_of(model, name)} | {about} |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    parts = [
        "# Configuration reference",
        "",
        "Generated from the models that validate it (`python -m infra.config_doc`; a test fails when this page is",
        "stale). The JSON schema of the `bridge` object is [configuration.schema.json](configuration.schema.json).",
        "",
    ]
    for title, model in SECTIONS:
        parts += [f"## {title}", "", "| key | type | default | meaning |", "|---|---|---|---|", *rows(model), ""]
    parts += [
        "## The stream worker (environment variables; the stack sets them from `bridge`)",
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
        *rows(WorkerSettings, ENV_NAMES),
        "",
    ]
    return "\n".join(parts)


def schema() -> str:
    return json.dumps(BridgeConfig.model_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    del argv
    MARKDOWN.write_text(markdown(), encoding="utf-8")
    SCHEMA.write_text(schema(), encoding="utf-8")
    print(f"wrote {MARKDOWN.relative_to(ROOT)} and {SCHEMA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
