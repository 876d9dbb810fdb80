"""``solace serve``: the whole platform on Ray Serve (a local Ray, or a cluster by address),
with Serve's gRPC proxy answering Support, health and reflection on ``SOLACE_GRPC_PORT``."""

from __future__ import annotations

import contextlib
import signal
import time

from services.common.config import Settings
from services.router.service_names import GRPC_SERVICER_FUNCTIONS


def serve_environment(settings: Settings) -> dict[str, str]:
    """Ray Serve switches every Ray process of the app must see (driver, proxy, replicas)."""
    return {"RAY_SERVE_USE_GRPC_BY_DEFAULT": "1" if settings.serve.serve_grpc_transport else "0"}


def _init_ray(settings: Settings) -> None:
    import os

    import ray

    if ray.is_initialized():
        return
    env = serve_environment(settings)
    # Serve reads these at import, in this process too; a local Ray's workers inherit them,
    # and on a cluster the job's runtime environment carries them to the replicas.
    os.environ.update(env)
    options: dict = {"runtime_env": {"env_vars": env}}
    if not settings.serve.ray_address:
        # A local Ray: its per-node metrics agent serves the replicas' Prometheus metrics.
        options["_metrics_export_port"] = settings.serve.ray_metrics_port
    ray.init(
        address=settings.serve.ray_address or None,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
        **options,
    )


def start_platform(settings: Settings, blocking: bool = False) -> None:
    """Start Ray (or join ``settings.serve.ray_address``), Serve's proxies and the Solace app."""
    from ray import serve
    from ray.serve.config import HTTPOptions, gRPCOptions

    from services.router.app import APP_NAME, build_app

    _init_ray(settings)
    serve.start(
        http_options=HTTPOptions(host=settings.host, port=settings.serve.http_port),
        # Reflection is the ingress's, as Support and health are: Serve's own (on by default)
        # would answer in the proxy, parsing requests where a corrupt one is UNKNOWN.
        grpc_options=gRPCOptions(
            port=settings.grpc_port,
            grpc_servicer_functions=list(GRPC_SERVICER_FUNCTIONS),
            enable_reflection=False,
        ),
    )
    # route_prefix "/" makes this the proxy's only app, so clients need no Ray metadata.
    serve.run(build_app(settings), name=APP_NAME, route_prefix="/", blocking=blocking)


def start_on_free_ports(settings: Settings, attempts: int = 3) -> Settings:
    """Start the platform on ports chosen now (``solace_cli.ports.free_port``) for tests and
    benchmarks; returns the settings it serves with. A start that fails (a port taken between
    choosing it and binding it, seen twice in CI; Ray's node timing out on an overloaded
    machine) is stopped and tried again on fresh ports; the last failure is raised with who
    listens on its ports."""
    from solace_cli.ports import free_port, listeners

    for attempt in range(1, attempts + 1):
        chosen = settings.with_overrides(grpc_port=free_port(), http_port=free_port())
        try:
            start_platform(chosen)
            return chosen
        except Exception as exc:
            held = listeners(chosen.grpc_port, chosen.serve.http_port)
            # What did come up may be half-started: the start's error is the one to report.
            with contextlib.suppress(Exception):
                stop_platform()
            if attempt == attempts:
                raise RuntimeError(
                    f"the platform did not start in {attempts} attempts ({type(exc).__name__}: "
                    f"{exc}); listening on its ports now:\n{held}"
                ) from exc
            print(
                f"platform start {attempt} failed ({type(exc).__name__}: {exc}); listening on "
                f"its ports: {held.strip() or 'nothing'}; retrying on other ports",
                flush=True,
            )
            time.sleep(5)
    raise AssertionError("unreachable")


def stop_platform(shared_embeddings_dir: str = "") -> None:
    """Stop Serve and Ray; then remove the machine's shared-embeddings files in
    ``shared_embeddings_dir`` that no process holds any more (the replicas, killed by Ray, do
    not all get to remove them at exit)."""
    import ray
    from ray import serve

    from services.common.shared_embeddings import remove_unused

    serve.shutdown()
    ray.shutdown()
    if shared_embeddings_dir:
        for path in remove_unused(shared_embeddings_dir):
            print(f"removed shared embeddings {path}", flush=True)


def serve_platform(settings: Settings) -> int:
    from services.common.access import AccessControl

    # Ray installs its own fatal-signal handlers at init: ours go in after it, and before the
    # (long) deployment, so a SIGTERM at any point after this stops the platform cleanly.
    _init_ray(settings)
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    start_platform(settings)
    access = (
        "OPEN: no API keys configured" if AccessControl(settings.access).is_open else "API keys"
    )
    print(
        f"Solace serving Support on {settings.host}:{settings.grpc_port} (gRPC; health and "
        f"reflection on the same port; access: {access}). Ctrl-C or SIGTERM stops it.",
        flush=True,
    )
    # The handler only appends to a list that this loop polls: a handler must not take a lock
    # the main thread may hold (Event.set inside Event.wait deadlocks).
    while not stopping:
        time.sleep(0.2)
    print("Stopping Solace ...", flush=True)
    stop_platform(settings.shared_embeddings_dir)
    return 0
