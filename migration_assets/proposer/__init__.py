"""The built-in field-map proposer (knowledge of the destination fields in five languages, value evidence,
one-to-one assignment) and the memory of confirmed choices."""

from .engine import THRESHOLD, KnowledgeProposer

__all__ = ["THRESHOLD", "KnowledgeProposer"]
