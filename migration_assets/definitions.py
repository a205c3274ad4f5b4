"""The Dagster code location (workspace.yaml points here): every registered source paired with every
registered destination, or the pairs in MIGRATION_PAIRS (e.g. "trengo:salesforce")."""

from .factory import build_definitions

defs = build_definitions()
