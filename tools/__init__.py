"""Solace's tools: benchmarks, training and evaluation.

They live in the repository beside the product and use it (``services/``, ``kernels/``, the
generated stubs), but nothing of the product imports them (``tests/services/test_layering.py``):
the serving import graph holds only what serves. The CLI (``solace bench|train|eval``) reaches
them lazily, one subcommand at a time.
"""
