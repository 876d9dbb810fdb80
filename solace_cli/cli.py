"""The ``solace`` command: serve the platform or one service, chat with it, check health,
build and train the models, evaluate and benchmark them.

Heavy imports (Ray, torch, the models) happen inside the subcommand that needs them, so
``solace health`` and ``solace chat`` start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from typing import Any, NoReturn

from services.common.config import Settings, load_settings
from services.common.errors import InvalidArgument
from services.registry import BY_NAME, STANDALONE

# ``--method`` values: GenerationMethod names without their prefix (common.proto), written out:
# a test keeps the two lists equal.
METHODS = ("auto", "direct", "madp", "empathy_r1", "kemi", "value_reinforcement")


class Parser(argparse.ArgumentParser):
    """argparse with every argument error as one line on stderr (argparse prints its usage
    block first), naming the valid values, and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {self._with_choices(message)}\n")

    def _with_choices(self, message: str) -> str:
        """A missing argument's message with the values it takes ("the following arguments
        are required: what" alone does not say what ``what`` may be)."""
        missing = re.fullmatch(r"the following arguments are required: (.*)", message)
        if not missing:
            return message
        parts = []
        for name in missing.group(1).split(", "):
            choices = next(
                (a.choices for a in self._actions if name in (a.dest, a.metavar) and a.choices),
                None,
            )
            parts.append(f"{name} (one of: {', '.join(choices)})" if choices else name)
        return "the following arguments are required: " + ", ".join(parts)

    def options(self) -> str:
        """This command's option strings, for an "unrecognized arguments" error."""
        return ", ".join(o for a in self._actions for o in a.option_strings if o.startswith("--"))


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def _settings(args: argparse.Namespace) -> Any:
    overrides = {}
    if getattr(args, "port", None):
        overrides["grpc_port"] = args.port
    return load_settings(**overrides)


# -- serve -----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    if args.address:
        settings = settings.with_overrides(ray_address=args.address)
    if args.service:
        from solace_cli.standalone import serve_standalone

        # Support listens on the main port; a service on its own ``<name>_port`` setting.
        service = BY_NAME.get(args.service)
        port = args.port or (service.port(settings) if service else settings.grpc_port)
        from services.common.shared_embeddings import close_shared_embeddings

        try:
            return asyncio.run(serve_standalone(args.service, settings, port))
        finally:
            # The last standalone service of the machine to stop removes the file.
            close_shared_embeddings()
    if args.port:
        settings = settings.with_overrides(grpc_port=args.port)
    from solace_cli.platform import serve_platform

    return serve_platform(settings)


# -- chat --------------------------------------------------------------------------------------


def _print_response(response: Any, as_json: bool) -> None:
    from google.protobuf.json_format import MessageToDict

    from solace.v1 import common_pb2

    if as_json:
        print(json.dumps(MessageToDict(response), indent=2, ensure_ascii=False))
        return
    print(response.reply)
    print()
    risk = common_pb2.RiskLevel.Name(response.risk.level) if response.HasField("risk") else "-"
    print(
        f"  risk      {risk}{'  (escalated)' if response.escalated else ''}"
        f"{'  (safety hold)' if response.safety_hold else ''}"
    )
    if response.HasField("defense"):
        print(f"  defense   {common_pb2.DefenseLevel.Name(response.defense.level)}")
    if response.HasField("strategy"):
        print(f"  strategy  {common_pb2.Strategy.Name(response.strategy.strategy)}")
    if response.HasField("generation"):
        gen = response.generation
        method = common_pb2.GenerationMethod.Name(gen.method)
        print(
            f"  reply by  {method} on {gen.engine}"
            f"{'  (fell back: ' + gen.fallback_reason + ')' if gen.fell_back else ''}"
        )
    for resource in response.resources:
        print(f"  resource  {resource.name}: {resource.contact}")
    print(
        "  timings   " + ", ".join(f"{t.stage} {t.milliseconds:.1f} ms" for t in response.timings)
    )


def _channel(target: str, settings: Settings) -> Any:
    """A channel to ``target``: TLS (mutual where a client cert is set) when the settings name
    client TLS files (``SOLACE_TLS_CA_FILE``, ``SOLACE_TLS_CLIENT_CERT_FILE`` / ``_KEY_FILE``,
    as the router's own clients), plaintext otherwise."""
    import grpc

    from services.common.tls import client_channel_credentials

    credentials = client_channel_credentials(settings.tls)
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials)


def cmd_chat(args: argparse.Namespace) -> int:
    import grpc

    from solace.v1 import common_pb2, support_pb2, support_pb2_grpc

    settings = _settings(args)
    target = args.target or f"localhost:{settings.grpc_port}"
    metadata = [("x-api-key", args.api_key)] if args.api_key else None
    turns: list[common_pb2.Turn] = []
    with _channel(target, settings) as channel:
        stub = support_pb2_grpc.SupportStub(channel)

        def ask(text: str) -> int:
            turns.append(common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text))
            request = support_pb2.RespondRequest(
                conversation=common_pb2.Conversation(
                    turns=turns, situation=args.situation or "", locale=args.locale or ""
                ),
                options=support_pb2.RespondOptions(
                    method=common_pb2.GenerationMethod.Value(
                        f"GENERATION_METHOD_{args.method.upper()}"
                    ),
                    include_trace=args.trace,
                ),
            )
            try:
                response = stub.Respond(request, timeout=args.timeout, metadata=metadata)
            except grpc.RpcError as exc:
                print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
                turns.pop()
                return 1
            _print_response(response, args.json)
            # Echo the strategy the reply followed: strategy prediction reads the history from it.
            turns.append(
                common_pb2.Turn(
                    role=common_pb2.ROLE_SUPPORTER,
                    text=response.reply,
                    strategy=response.generation.strategy,
                )
            )
            return 0

        if args.message:
            return ask(" ".join(args.message))
        print(f"Talking to Solace at {target}. An empty line ends the conversation.")
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                return 0
            if not line:
                return 0
            ask(line)
            print()


# -- health ------------------------------------------------------------------------------------


def cmd_health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    settings = _settings(args)
    target = args.target or f"localhost:{args.port or settings.grpc_port}"
    try:
        with _channel(target, settings) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service or ""), timeout=args.timeout
            )
    except grpc.RpcError as exc:
        print(f"{target}: {exc.code().name}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{target}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


# -- models, training, evaluation, benchmarks ------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    from solace_cli.modelbuild import build_models

    result = build_models(load_settings(), force=args.force)
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tools.training import train

    train(args.task, load_settings())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.what == "risk":
        if args.dev:
            from tools.evaluation.risk_dev import run as run_risk_dev

            print(run_risk_dev(settings, show_missed=True))
            return 0
        from tools.evaluation.risk import run as run_risk

        print(run_risk(settings, frozen=args.frozen))
        return 0
    if args.what == "conditioning":
        _checkout_on_path()  # it sends the load tests' everyday seeker messages
        from tools.evaluation.conditioning import run as run_conditioning

        print(run_conditioning(settings))  # the llamacpp engine's strategy conditioning
        return 0
    if args.what == "classifiers":
        from tools.evaluation.classifiers import run
    else:
        from tools.evaluation.generate import run
    print(run(settings))
    return 0


def _checkout_on_path() -> None:
    """``loadtests/`` of the checkout (not a packaged module) importable: a console script does
    not have the checkout on its path."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(checkout, "loadtests")) and checkout not in sys.path:
        sys.path.append(checkout)


def cmd_bench(args: argparse.Namespace) -> int:
    settings = load_settings()
    _checkout_on_path()  # the benchmarks send the load tests' fresh seeker turns
    if args.what in ("classifiers", "all"):
        from tools.benchmarks.classifiers import run as run_classifiers

        run_classifiers(settings)  # prints its table itself
    if args.what in ("support", "all"):
        from tools.benchmarks.support import run as run_support

        print(run_support(settings, calls=args.calls))
    if args.what == "batching":
        from tools.benchmarks.batching import run as run_batching

        print(run_batching(settings))
    if args.what == "cluster":
        from tools.benchmarks.cluster import run as run_cluster

        print(run_cluster(settings))
    if args.what == "load":
        from tools.benchmarks.load import run as run_load

        print(run_load(settings))
    if args.what == "llm":
        from tools.benchmarks.llm import run as run_llm

        print(run_llm(settings))  # the llamacpp engine, SOLACE_LLM_THREADS threads
    if args.what == "runtimes":
        from tools.benchmarks.llm_runtimes import run as run_runtimes

        print(run_runtimes(settings))  # vLLM CPU beside llama.cpp, the same model and prompts
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from services.common.auth import hash_key

    print(hash_key(args.key))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="solace", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the whole platform, or one service standalone")
    serve.add_argument("service", nargs="?", choices=STANDALONE, help="one standalone service")
    serve.add_argument("--port", type=_port, help="port (default: from SOLACE_*_PORT)")
    serve.add_argument("--address", help="Ray cluster address to deploy onto (default: local)")
    serve.set_defaults(func=cmd_serve)

    chat = sub.add_parser(
        "chat",
        help="talk to a running Solace (one-shot or interactive; TLS from SOLACE_TLS_CA_FILE "
        "and SOLACE_TLS_CLIENT_CERT_FILE/_KEY_FILE when set)",
    )
    chat.add_argument("message", nargs="*", help="the seeker's message; none for interactive")
    chat.add_argument("--json", action="store_true", help="print the whole response as JSON")
    chat.add_argument("--target", help="host:port (default: localhost:$SOLACE_GRPC_PORT)")
    chat.add_argument("--port", type=_port)
    chat.add_argument("--situation", help="the seeker's situation, if known")
    chat.add_argument("--locale", help="BCP-47 locale for crisis resources")
    chat.add_argument("--method", default="auto", choices=METHODS, help="generation method")
    chat.add_argument("--trace", action="store_true", help="include the method's reasoning")
    chat.add_argument("--api-key", default=os.environ.get("SOLACE_API_KEY"))
    chat.add_argument("--timeout", type=_positive_float, default=30.0)
    chat.set_defaults(func=cmd_chat)

    health = sub.add_parser(
        "health",
        help="exit 0 only when the server reports SERVING (TLS from SOLACE_TLS_* as chat)",
    )
    health.add_argument("--target", help="host:port (default: localhost:$SOLACE_GRPC_PORT)")
    health.add_argument("--port", type=_port)
    health.add_argument("--service", help="a service name (default: the whole server)")
    health.add_argument("--timeout", type=_positive_float, default=5.0)
    health.set_defaults(func=cmd_health)

    models = sub.add_parser("models", help="build the serving models")
    models_sub = models.add_subparsers(dest="action", required=True)
    build = models_sub.add_parser("build", help="export and quantise the ONNX encoder")
    build.add_argument("--force", action="store_true")
    build.set_defaults(func=cmd_models)

    train = sub.add_parser("train", help="train the classifier heads from ../shared/data")
    train.add_argument(
        "task", nargs="?", default="all", choices=["strategy", "defense", "risk", "all"]
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="evaluate models on the labelled data")
    evaluate.add_argument("what", choices=["risk", "classifiers", "generate", "conditioning"])
    evaluate.add_argument(
        "--frozen",
        action="store_true",
        help="risk: also report the frozen hand-written set (once, at the end; never tune on it)",
    )
    evaluate.add_argument(
        "--dev",
        action="store_true",
        help="risk: only the dev side (rows held back from fitting, ESConv valid): tune on this",
    )
    evaluate.set_defaults(func=cmd_eval)

    bench = sub.add_parser("bench", help="print latency figures (not a test)")
    bench.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["classifiers", "support", "load", "batching", "cluster", "llm", "runtimes", "all"],
    )
    bench.add_argument("--calls", type=_positive_int, default=300)
    bench.set_defaults(func=cmd_bench)

    keys = sub.add_parser("keys", help="API key helpers")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    hash_cmd = keys_sub.add_parser("hash", help="print the sha256 to store for a key")
    hash_cmd.add_argument("key")
    hash_cmd.set_defaults(func=cmd_keys)
    return parser


def _leaf(parser: Parser, args: argparse.Namespace) -> Parser:
    """The (sub)command parser that ``args`` were parsed by: its errors name its options."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                return _leaf(chosen, args)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        leaf = _leaf(parser, args)
        leaf.error(f"unrecognized arguments: {' '.join(extras)} (options: {leaf.options()})")
    try:
        return int(args.func(args) or 0)
    except InvalidArgument as exc:
        # A bad SOLACE_* variable or config file entry: the same one line as a bad argument.
        parser.exit(2, f"solace: error: {exc}\n")
    except ModuleNotFoundError as exc:
        # train, eval and bench run the repository's tools/, which an image does not ship.
        if (exc.name or "").split(".")[0] != "tools":
            raise
        needs = f"{args.command} needs the repository's tools/ ({exc.name})"
        parser.exit(2, f"solace: error: {needs}\n")


if __name__ == "__main__":
    sys.exit(main())
