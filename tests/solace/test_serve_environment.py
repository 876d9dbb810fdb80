"""The Ray Serve switches ``solace serve`` hands every Ray process of the app."""

from __future__ import annotations

from services.common.config import Settings
from solace.platform import serve_environment


def test_replicas_run_user_code_and_routing_on_one_loop_unless_the_operator_says_otherwise():
    settings = Settings()
    env = serve_environment(settings, environ={})
    assert env["RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"] == "0"
    assert env["RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"] == "0"
    assert env["RAY_SERVE_USE_GRPC_BY_DEFAULT"] == ("1" if settings.serve_grpc_transport else "0")
    operator = serve_environment(settings, environ={"RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "1"})
    assert operator["RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"] == "1"
    assert operator["RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"] == "0"
