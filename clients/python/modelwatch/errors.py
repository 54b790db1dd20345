"""Typed errors of the modelwatch client.

Every error answer of the server is JSON: {"error": {"code", "message",
"details"}}. ModelwatchError carries those fields and the HTTP status; the
subclasses name the statuses a caller usually handles differently.
"""

__all__ = [
    "ModelwatchError", "BadRequest", "Unauthorized", "Forbidden", "NotFound",
    "Conflict", "PayloadTooLarge", "ValidationError", "RateLimited",
    "ServerError", "Unreachable", "error_for",
]


class ModelwatchError(Exception):
    """An error answer of the server (or no answer: Unreachable).

    status: the HTTP status (None when the server was not reached);
    code: the server's machine-readable code (`validation_failed`,
    `not_approved`, ...; None when the body was not the JSON error shape);
    message: for people; details: a dict (`{}` when there is nothing to
    add); retry_after: seconds the server asked to wait (429, 503), else
    None; method and path: the request that failed.
    """

    def __init__(self, message, status=None, code=None, details=None,
                 retry_after=None, method=None, path=None):
        self.status = status
        self.code = code
        self.message = message
        self.details = details if isinstance(details, dict) else {}
        self.retry_after = retry_after
        self.method = method
        self.path = path
        super().__init__(self._text())

    def _text(self):
        where = " (%s %s)" % (self.method, self.path) if self.method else ""
        if self.status is None:
            return "%s%s" % (self.message, where)
        return "%s %s: %s%s" % (self.status, self.code or "error", self.message, where)


class BadRequest(ModelwatchError):
    """400: malformed request (bad JSON, bad query parameter)."""


class Unauthorized(ModelwatchError):
    """401: no token, or a token the server does not know."""


class Forbidden(ModelwatchError):
    """403: the token lacks a scope (code `forbidden`), the version is not
    approved for a protected alias (`not_approved`), or its creator may not
    decide on it (`self_approval`)."""


class NotFound(ModelwatchError):
    """404: no such model, version, alias, rollout, ..."""


class Conflict(ModelwatchError):
    """409: the state is not what the request needs, e.g. a compare-and-swap
    promote whose expected_version is stale (details.current_version)."""

    @property
    def current_version(self):
        return self.details.get("current_version")


class PayloadTooLarge(ModelwatchError):
    """413: the body is over the route's cap."""


class ValidationError(ModelwatchError):
    """422: well-formed but invalid. For batches (predictions, labels,
    reference rows) details has errors: [{index, field, message}],
    error_count and truncated, and nothing was stored."""

    @property
    def errors(self):
        errs = self.details.get("errors")
        return errs if isinstance(errs, list) else []


class RateLimited(ModelwatchError):
    """429: over the token's rate; retry_after says how long to wait."""


class ServerError(ModelwatchError):
    """5xx: the server failed (500) or is unavailable for now (503, with
    retry_after)."""


class Unreachable(ModelwatchError):
    """No answer: connection refused or reset, timeout, DNS, TLS. status is
    None. A request that timed out may still have been carried out."""


_BY_STATUS = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
              409: Conflict, 413: PayloadTooLarge, 422: ValidationError,
              429: RateLimited}


def error_for(status, body, retry_after=None, method=None, path=None):
    """The error an answer of `status` with (raw) `body` stands for."""
    code, message, details = None, None, {}
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code = err.get("code")
        message = err.get("message")
        details = err.get("details") if isinstance(err.get("details"), dict) else {}
    if retry_after is None and isinstance(details.get("retry_after_seconds"), (int, float)):
        retry_after = details["retry_after_seconds"]
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ModelwatchError)
    return cls(message or "HTTP %d" % status, status=status, code=code, details=details,
               retry_after=retry_after, method=method, path=path)
