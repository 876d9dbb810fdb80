"""Locust load tests for Support over gRPC (``locustfile.py``) and their headless runner
(``python -m loadtests.run``)."""
