"""modelwatch: the Python client of the modelwatch model registry and
monitoring service. Standard library only.

    from modelwatch import Client, PredictionLogger, verify_webhook

Client: the REST API with typed errors (modelwatch.errors).
PredictionLogger / LabelLogger: non-blocking, batched, retried logging of
predictions and labels for serving processes, with ordered (UUIDv7) ids.
verify_webhook: Standard Webhooks signature check of modelwatch's signed
commands and events.
"""
from .client import UNSET, Client, RolloutTimeout, format_time
from .errors import (BadRequest, Conflict, Forbidden, ModelwatchError, NotFound,
                     PayloadTooLarge, RateLimited, ServerError, Unauthorized,
                     Unreachable, ValidationError)
from .ids import Uuid7, uuid7
from .logger import LabelLogger, PredictionLogger
from .webhooks import WebhookVerificationError, sign_webhook, verify_webhook

__version__ = "0.1.0"

__all__ = [
    "Client", "UNSET", "RolloutTimeout", "format_time",
    "PredictionLogger", "LabelLogger",
    "verify_webhook", "sign_webhook", "WebhookVerificationError",
    "uuid7", "Uuid7",
    "ModelwatchError", "BadRequest", "Unauthorized", "Forbidden", "NotFound",
    "Conflict", "PayloadTooLarge", "ValidationError", "RateLimited", "ServerError",
    "Unreachable",
]
