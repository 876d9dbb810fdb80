"""Evaluation reports printed by ``solace eval``."""
