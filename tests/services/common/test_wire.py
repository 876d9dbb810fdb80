"""The one request parser: corrupt bytes, truncations and misread wire types are the caller's
INVALID_ARGUMENT; a message already parsed passes; unknown field numbers stay accepted. And
the error table's row for a lost replica: Ray's actor and worker deaths are UNAVAILABLE."""

from __future__ import annotations

import grpc
import pytest
from corrupt_requests import corrupt_requests

from services.common.errors import InvalidArgument
from services.common.interceptor import status_for
from services.common.wire import decode, misread_field, size_of
from solace.v1 import common_pb2, support_pb2

PARSE = support_pb2.RespondRequest.FromString


def valid() -> support_pb2.RespondRequest:
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[
                common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text="hi"),
                common_pb2.Turn(role=common_pb2.ROLE_SUPPORTER, text="hello"),
            ]
        )
    )


def test_valid_bytes_and_parsed_messages_pass():
    assert decode(PARSE, valid().SerializeToString()) == valid()
    assert decode(PARSE, valid()) is not None
    assert decode(None, b"raw") == b"raw"
    assert size_of(valid().SerializeToString()) == valid().ByteSize() == size_of(valid())


def test_unknown_field_numbers_are_accepted():
    # Field 500 is no field of RespondRequest: a newer client's, kept as protobuf keeps it.
    data = valid().SerializeToString() + b"\xa0\x1f\x01"
    assert decode(PARSE, data).conversation == valid().conversation


@pytest.mark.parametrize(
    ("label", "data"),
    corrupt_requests(support_pb2.RespondRequest),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_corrupt_case_is_invalid_argument(label, data):
    with pytest.raises(InvalidArgument) as err:
        decode(PARSE, data)
    assert status_for(err.value)[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_the_misread_field_is_named_by_its_path():
    # turns[1].text (field 2) arrives as a varint.
    data = valid().SerializeToString()
    turn = b"\x08\x01\x10\x05"
    conversation = b"\x0a" + bytes([len(turn)]) + turn
    data += b"\x0a" + bytes([len(conversation)]) + conversation
    message = support_pb2.RespondRequest.FromString(data)
    assert misread_field(message) == "conversation.turns[2].text"
    with pytest.raises(InvalidArgument, match=r"^conversation\.turns\[2\]\.text: "):
        decode(PARSE, data)


def test_garbage_says_which_message_it_is_not():
    expected = r"^request: is not a valid solace\.v1\.RespondRequest: "
    with pytest.raises(InvalidArgument, match=expected):
        decode(PARSE, b"\xff\xff\xff")


def test_lost_replicas_and_workers_are_unavailable():
    from ray import exceptions
    from ray.serve.exceptions import RayServeException

    for exc in (
        exceptions.ActorDiedError(),
        exceptions.ActorUnavailableError("the actor is unreachable", None),
        exceptions.RayActorError(),
        exceptions.WorkerCrashedError(),
    ):
        assert status_for(exc)[0] == grpc.StatusCode.UNAVAILABLE, type(exc).__name__
    # Serve's wrapping of an upstream actor's death.
    wrapped = RayServeException("an upstream actor died")
    wrapped.__cause__ = exceptions.ActorDiedError()
    assert status_for(wrapped)[0] == grpc.StatusCode.UNAVAILABLE
    # Anything else is still our bug.
    assert status_for(RuntimeError("boom")) == (grpc.StatusCode.INTERNAL, "internal error")
    assert status_for(RayServeException("boom"))[0] == grpc.StatusCode.INTERNAL


def test_errors_survive_pickling_between_processes():
    import pickle

    from services.common.errors import Unavailable

    for exc in (InvalidArgument("conversation.turns", "is empty"), Unavailable("risk is down")):
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is type(exc) and copy.message == exc.message
    assert pickle.loads(pickle.dumps(InvalidArgument("a.b", "c"))).field == "a.b"
