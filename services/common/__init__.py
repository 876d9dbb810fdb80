"""Shared runtime of every Solace service: config, errors, labels, the gRPC server runner."""
