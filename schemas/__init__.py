"""The wire contract (event-contract.md, version 1) as pydantic v2 models.

Imports nothing of ours: services can validate against these models, or against the
JSON Schema files in ``schemas/json/`` generated from them.
"""

from schemas.base import Actor, Envelope
from schemas.export import DEFAULT_SCHEMA_DIR, expected_json_schemas, export_json_schemas
from schemas.parse import RULE_FOR_FIELD, WireError, envelope_to_wire, parse_envelope
from schemas.registry import ENVELOPE_MODELS, PRODUCER_TYPES, SYSTEM_TYPES

__all__ = [
    "DEFAULT_SCHEMA_DIR",
    "ENVELOPE_MODELS",
    "PRODUCER_TYPES",
    "RULE_FOR_FIELD",
    "SYSTEM_TYPES",
    "Actor",
    "Envelope",
    "WireError",
    "envelope_to_wire",
    "expected_json_schemas",
    "export_json_schemas",
    "parse_envelope",
]
