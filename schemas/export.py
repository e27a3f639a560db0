"""JSON Schema files, one per event type, generated from the models and checked in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from schemas.registry import ENVELOPE_MODELS

DEFAULT_SCHEMA_DIR: Final = Path(__file__).parent / "json"
SCHEMA_BASE_URI: Final = "https://ledger.example/schemas/v1/"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def expected_json_schemas() -> dict[str, str]:
    """File name (``<type>.json``) to file text, for every event type; writes nothing."""
    files: dict[str, str] = {}
    for event_type, model in sorted(ENVELOPE_MODELS.items()):
        schema = model.model_json_schema()
        schema["$schema"] = DIALECT
        schema["$id"] = f"{SCHEMA_BASE_URI}{event_type}.json"
        schema["title"] = event_type
        files[f"{event_type}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write one JSON Schema file per event type into ``out_dir``; return their paths.

    The folder is created if needed. Files of other names are left alone.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in expected_json_schemas().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
