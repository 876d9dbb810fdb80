"""Request bytes to messages: the one place a Solace server parses what a client sent.

Both servers hand their handlers the request's raw bytes and parse here: the standalone
servers through the interceptor (``services.common.interceptor``), the Ray Serve ingress in its
replica (Serve's proxy forwards the bytes unparsed, see ``services.router.serve_grpc``). A
request that is not a valid message is the caller's error, ``INVALID_ARGUMENT``, like any other
bad input; left to gRPC it would be ``UNKNOWN: Unexpected DecodeError``.

Not valid: bytes the protobuf runtime cannot parse (corrupt or truncated), and a field number
the message defines arriving with another wire type (say a varint where ``conversation`` is a
message). Protobuf keeps the latter as an unknown field and parses on, so the request would be
judged without the field the client meant to send. Unknown field *numbers* stay accepted, as
protobuf's compatibility rules want (a newer client may send fields this server predates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from services.common.errors import InvalidArgument

Deserializer = Callable[[bytes], Any]

_RAW = (bytes, bytearray, memoryview)


def decode(deserializer: Deserializer | None, data: Any) -> Any:
    """The message ``deserializer`` (a generated ``Message.FromString``) reads from ``data``.

    ``data`` that is already a message is returned as it is (a Serve proxy configured with
    the generated servicer functions parses before the replica sees the request); with no
    deserializer the bytes are the request. Raises ``InvalidArgument``.
    """
    if deserializer is None or not isinstance(data, _RAW):
        return data
    try:
        message = deserializer(bytes(data))
    except Exception as exc:
        raise InvalidArgument(
            "request", f"is not a valid {_type_name(deserializer)}: corrupt or truncated bytes"
        ) from exc
    if isinstance(message, Message):
        misread = misread_field(message)
        if misread is not None:
            raise InvalidArgument(misread, "was sent with the wrong wire type for its field")
    return message


def size_of(data: Any) -> int:
    """The request's size on the wire, for the request-size limit, before it is parsed."""
    if isinstance(data, _RAW):
        return len(data)
    return data.ByteSize() if isinstance(data, Message) else 0


def misread_field(message: Message, path: str = "") -> str | None:
    """The path of the first field of ``message`` (or of a message inside it) that arrived
    with a wire type other than its own, or ``None``."""
    known = message.DESCRIPTOR.fields_by_number
    for unknown in UnknownFieldSet(message):
        if unknown.field_number in known:
            return _join(path, known[unknown.field_number].name)
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        where = _join(path, field.name)
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type != FieldDescriptor.TYPE_MESSAGE:
                continue
            items: Any = ((f"{where}[{k!r}]", v) for k, v in value.items())
        elif field.is_repeated:
            items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
        else:
            items = ((where, value),)
        for item_path, item in items:
            found = misread_field(item, item_path)
            if found is not None:
                return found
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(deserializer: Deserializer) -> str:
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", "request message")
