"""Every argument error of every ``solace`` subcommand reads as one line on stderr that names
the valid values, with exit status 2 and no traceback. The subcommands are walked from the
parser itself, so a new one is covered the day it is added."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest

from solace_cli import cli


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator:
    """(argv prefix, parser) of every command that runs something, nested ones included."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
    for action in subparsers:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def _required_positionals(parser: argparse.ArgumentParser) -> list[str]:
    """Valid values for the positionals a command needs, so the error is the one under test."""
    values = []
    for action in parser._actions:
        if action.option_strings or action.nargs in ("?", "*") or action.default is not None:
            continue
        values.append(next(iter(action.choices)) if action.choices else "x")
    return values


def _bad_argvs() -> Iterator[tuple[list[str], list[str]]]:
    """(argv, words its error line must contain) for every way to get a command's args wrong."""
    yield [], ["command", "serve", "chat", "bench"]
    yield ["no-such-command"], ["no-such-command", "serve", "keys"]
    for path, parser in _leaves(cli.build_parser()):
        needed = [*path, *_required_positionals(parser)]
        yield [*needed, "--no-such-option"], ["--no-such-option"]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if action.choices:
                bad = [*needed, action.option_strings[0]] if action.option_strings else list(path)
                yield [*bad, "value"], ["value", *action.choices]
            elif action.type is not None and action.option_strings:
                yield [*needed, action.option_strings[0], "nonsense"], ["nonsense"]
    for path in (("models",), ("keys",)):  # a command group without its action
        yield list(path), ["action"]


@pytest.mark.parametrize(
    "argv, named", [pytest.param(a, n, id=" ".join(a) or "(none)") for a, n in _bad_argvs()]
)
def test_a_bad_argument_is_one_line_naming_the_valid_values(
    argv: list[str], named: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "error:" in err
    for word in named:
        assert word in err, f"{word!r} not named in: {err}"


def test_chat_with_a_method_that_does_not_exist_prints_no_traceback() -> None:
    """The reported case, as a user runs it: no server is needed to reject it."""
    done = subprocess.run(
        [sys.executable, "-m", "solace_cli.cli", "chat", "--method", "value", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "invalid choice: 'value'" in line and "value_reinforcement" in line


def test_the_methods_offered_are_the_generation_methods_of_the_contract() -> None:
    from solace.v1 import common_pb2

    values = common_pb2.GenerationMethod.DESCRIPTOR.values
    names = [v.name for v in values if not v.name.endswith("UNSPECIFIED")]
    assert [n.removeprefix("GENERATION_METHOD_").lower() for n in names] == list(cli.METHODS)


def test_a_bad_setting_in_the_environment_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOLACE_GRPC_PORT", "not-a-port")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["health"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SOLACE_GRPC_PORT" in err


@pytest.mark.parametrize("argv", [["train", "risk"], ["eval", "risk"], ["bench", "llm"]])
def test_a_tool_command_without_the_repository_tools_is_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An image ships solace/, services/ and kernels/ but not tools/: a None entry makes every
    # tools import fail as it would there.
    for name in [m for m in sys.modules if m == "tools" or m.startswith("tools.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tools", None)
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"solace: error: {argv[0]} needs the repository's tools/")
    assert "Traceback" not in err and err.count("\n") == 1
