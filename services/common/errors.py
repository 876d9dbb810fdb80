"""The project's one error hierarchy. Domain code raises these; one interceptor maps them to
gRPC status codes (see ``services.common.server``). No transport imports here on purpose."""

from __future__ import annotations


class SolaceError(Exception):
    """Base of every error Solace reports to a caller."""

    #: Name of the gRPC status code the interceptor answers with.
    status = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(SolaceError):
    """The caller sent bad input; ``field`` names the offending field path."""

    status = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Pickled with its own arguments: Ray carries errors between processes.
        return type(self), (self.field, self.detail)


class Unauthenticated(SolaceError):
    """Missing or invalid credentials."""

    status = "UNAUTHENTICATED"


class ResourceExhausted(SolaceError):
    """The caller is over quota."""

    status = "RESOURCE_EXHAUSTED"


class Unavailable(SolaceError):
    """A dependency (a service, a model, a store) is down."""

    status = "UNAVAILABLE"


class DeadlineExceeded(SolaceError):
    """The caller's deadline, or a stage's timeout, ran out."""

    status = "DEADLINE_EXCEEDED"


class Internal(SolaceError):
    """Our own bug; the caller sees a generic message, never a stack trace."""

    status = "INTERNAL"
