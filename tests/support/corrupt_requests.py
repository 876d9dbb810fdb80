"""Request bytes that are not a valid message of a given type, for the fuzz tests of every RPC
on every topology (tests/services/router/test_corrupt_requests.py, test_platform.py): random
bytes, truncated valid messages and fields sent with the wrong wire type.

Each case is checked here against protobuf itself, not against the code under test: random
bytes and truncations are kept only when protobuf cannot parse them; a wrong-wire-type case
names a field the message defines (protobuf would keep it as an unknown field).
"""

from __future__ import annotations

import random
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from solace.v1 import common_pb2

# Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4 are groups, 6/7 none).
_WIRE_TYPE = {
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_SFIXED64: 1,
    FieldDescriptor.TYPE_FLOAT: 5,
    FieldDescriptor.TYPE_FIXED32: 5,
    FieldDescriptor.TYPE_SFIXED32: 5,
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
}
# A payload for each wire type other than the field's own.
_PAYLOAD = {0: b"\x01", 1: b"\x00" * 8, 2: b"\x01x", 5: b"\x00" * 4}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _unparsable(request_class: type[Message], data: bytes) -> bool:
    try:
        request_class.FromString(data)
    except DecodeError:
        return True
    return False


def sample_request(request_class: type[Message]) -> Message:
    """A valid-looking request: a one-turn conversation where the message has one, and every
    top-level string field set (so a truncation can land inside it)."""
    message = request_class()
    for field in request_class.DESCRIPTOR.fields:
        if field.is_repeated:
            continue
        if field.message_type is common_pb2.Conversation.DESCRIPTOR:
            getattr(message, field.name).turns.add(
                role=common_pb2.ROLE_SEEKER, text="I have not slept well this week"
            )
        elif field.type == FieldDescriptor.TYPE_STRING and field.containing_oneof is None:
            setattr(message, field.name, "solace.v1.Support")
    if request_class.DESCRIPTOR.oneofs and not message.ListFields():
        first = request_class.DESCRIPTOR.oneofs[0].fields[0]
        if first.type == FieldDescriptor.TYPE_STRING:
            setattr(message, first.name, "")
    return message


def corrupt_requests(
    request_class: type[Message], seed: int = 0, n_random: int = 10, n_truncated: int = 6
) -> list[tuple[str, bytes]]:
    """``(label, bytes)`` cases, none of them a valid ``request_class``."""
    rng = random.Random(f"{request_class.DESCRIPTOR.full_name}:{seed}")
    cases: list[tuple[str, bytes]] = []
    tries = 0
    while sum(1 for label, _ in cases if label.startswith("random")) < n_random and tries < 5000:
        tries += 1
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 48)))
        if _unparsable(request_class, data):
            cases.append((f"random[{len(cases)}]", data))

    valid = sample_request(request_class).SerializeToString()
    cuts = [c for c in range(1, len(valid)) if _unparsable(request_class, valid[:c])]
    for cut in rng.sample(cuts, min(n_truncated, len(cuts))):
        cases.append((f"truncated[{cut}/{len(valid)}]", valid[:cut]))

    for field in request_class.DESCRIPTOR.fields:
        own = _WIRE_TYPE.get(field.type, 0)
        wrong = 0 if own != 0 else 2
        cases.append(
            (f"wire_type[{field.name}]", valid + _tag(field.number, wrong) + _PAYLOAD[wrong])
        )
    conversation = request_class.DESCRIPTOR.fields_by_name.get("conversation")
    if conversation is not None:
        # Deeper: conversation.turns[0].text sent as a varint.
        text = common_pb2.Turn.DESCRIPTOR.fields_by_name["text"].number
        turn = _tag(1, 0) + b"\x01" + _tag(text, 0) + b"\x05"
        conv = _tag(1, 2) + _varint(len(turn)) + turn
        cases.append(
            (
                "wire_type[conversation.turns[0].text]",
                _tag(conversation.number, 2) + _varint(len(conv)) + conv,
            )
        )
    # Wire types 6 and 7 do not exist; 4 ends a group that never started.
    for wire_type in (4, 6, 7):
        cases.append((f"wire_type[{wire_type}]", valid + _tag(1, wire_type)))
    return cases


def request_class_of(method: str) -> type[Message]:
    """The request message class of ``/package.Service/Method`` in the generated stubs."""
    from google.protobuf import descriptor_pool, message_factory

    service, name = method.strip("/").split("/")
    found = descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]
    return message_factory.GetMessageClass(found.input_type)


def is_streaming(method: str) -> tuple[bool, bool]:
    """Whether ``method`` streams its requests and its responses."""
    from google.protobuf import descriptor_pool

    service, name = method.strip("/").split("/")
    found = descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]
    return found.client_streaming, found.server_streaming


def call_raw(channel: grpc.Channel, method: str, data: bytes, timeout: float = 30) -> Any:
    """Send ``data`` as the request of ``method`` on a sync channel and read the whole answer;
    returns the status code (``grpc.StatusCode.OK`` when it answered)."""
    client_streams, server_streams = is_streaming(method)
    try:
        if client_streams and server_streams:
            call = channel.stream_stream(method)
            list(call(iter([data]), timeout=timeout))
        elif server_streams:
            list(channel.unary_stream(method)(data, timeout=timeout))
        else:
            channel.unary_unary(method)(data, timeout=timeout)
    except grpc.RpcError as err:
        return err.code(), err.details()
    return grpc.StatusCode.OK, ""


async def acall_raw(channel: grpc.aio.Channel, method: str, data: bytes, timeout: float = 30):
    """``call_raw`` on a grpc.aio channel."""
    client_streams, server_streams = is_streaming(method)
    try:
        if client_streams and server_streams:
            call = channel.stream_stream(method)(timeout=timeout)
            await call.write(data)
            await call.done_writing()
            async for _ in call:
                pass
        elif server_streams:
            async for _ in channel.unary_stream(method)(data, timeout=timeout):
                pass
        else:
            await channel.unary_unary(method)(data, timeout=timeout)
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details()
    return grpc.StatusCode.OK, ""


def methods_of(*services: str) -> list[str]:
    """Every ``/package.Service/Method`` of ``services`` (full names)."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    return [
        f"/{service}/{method.name}"
        for service in services
        for method in pool.FindServiceByName(service).methods
    ]
