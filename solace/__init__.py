"""The generated gRPC stubs of the ``solace.v1`` API (``solace/v1``, built from ``protos/`` by
``make protos``, never edited, ignored by git). The package holds nothing else: it is the bottom
of the import graph, beneath the serving code (``services/``, ``kernels/``) that imports it; the
command line and the launchers live in ``solace_cli``. The modules follow the ``.proto`` files'
paths (``protos/solace/v1/``), which reflection serves to partner apps, so the stubs are named
``solace.v1.*`` and the command's package is the one that moved."""
