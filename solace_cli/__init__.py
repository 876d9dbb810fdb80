"""The process entry points: the ``solace`` command (``cli``), the platform launcher
(``platform``: the Ray Serve app; ``standalone``: one gRPC server per service), the offline
model build (``modelbuild``) and the knowledge index build (``knowledge``).

It sits at the top of the import graph: it starts the product (``services/``, ``kernels/``) and
the tools (``tools/``) call it to build models or start a platform to measure; nothing of the
product imports it (``tests/services/test_layering.py``).
"""
