"""Standard Webhooks (https://www.standardwebhooks.com/) signatures, as
modelwatch signs node commands, event subscriptions and chat channels.

A request carries webhook-id, webhook-timestamp (Unix seconds) and
webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" entries, the
HMAC keyed with the base64-decoded part of the secret after `whsec_` and
computed over "<id>.<timestamp>.<body>".
"""
import base64
import binascii
import hashlib
import hmac
import json
import time

__all__ = ["verify_webhook", "sign_webhook", "WebhookVerificationError"]

_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The request is not an authentic, fresh webhook of this secret."""


def _key(secret):
    if isinstance(secret, bytes):
        secret = secret.decode("ascii")
    if secret.startswith(_PREFIX):
        secret = secret[len(_PREFIX):]
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("a webhook secret is whsec_ followed by base64") from e


def _as_bytes(body):
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sign_webhook(secret, msg_id, timestamp, body):
    """The webhook-signature value ("v1,<base64>") of body."""
    signed = b"%s.%d.%s" % (str(msg_id).encode(), int(timestamp), _as_bytes(body))
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def _headers(headers):
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(k).lower(): v for k, v in items}


def verify_webhook(secret, headers, body, tolerance=300, now=None):
    """Checks a received webhook and returns its body parsed as JSON.

    secret: the `whsec_...` secret of the node, subscription or channel
    (the prefix may be left out). headers: any mapping or list of pairs
    (names in any case). body: the raw bytes (or str) exactly as received,
    before any JSON parsing. tolerance: the largest difference in seconds
    between webhook-timestamp and now (replays of old requests fail).

    Raises WebhookVerificationError when a header is missing, the timestamp
    is unreadable or outside the tolerance, or no v1 signature matches
    (compared in constant time); ValueError (json.JSONDecodeError) when an
    authentic body is not JSON.
    """
    h = _headers(headers)
    msg_id = h.get("webhook-id")
    ts = h.get("webhook-timestamp")
    sigs = h.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or "
                                       "webhook-signature header")
    ts = str(ts).strip()
    if not ts.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not a Unix time in seconds")
    now = time.time() if now is None else now
    if abs(now - int(ts)) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is %s by %d s (tolerance %d s)" % (
            "in the future" if int(ts) > now else "old", abs(now - int(ts)), tolerance))
    data = _as_bytes(body)
    signed = b"%s.%s.%s" % (str(msg_id).encode(), ts.encode(), data)
    want = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
    ok = False
    for sig in str(sigs).split():
        version, _, value = sig.partition(",")
        # Every entry is compared (no early exit): the time taken does not
        # tell which one matched.
        if version == "v1" and hmac.compare_digest(want, value.encode("utf-8", "replace")):
            ok = True
    if not ok:
        raise WebhookVerificationError("no matching v1 signature")
    return json.loads(data)
