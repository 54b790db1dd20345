"""The REST client: one method per call of web/static/openapi.json that a
training pipeline or a serving process needs, and `request()` for the rest.

Standard library only (http.client). Connections are kept alive and
reused; a Client may be shared between threads.
"""
import datetime
import hashlib
import http.client
import io
import json
import os
import select
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse

from .errors import Unreachable, error_for

__all__ = ["Client", "UNSET", "RolloutTimeout", "format_time"]

_CHUNK = 1 << 20  # artifact bytes hashed and sent 1 MiB at a time
_FINAL_ROLLOUT_STATES = ("promoted", "aborted")


class _Unset:
    """The type of UNSET: an argument that was not given (as opposed to
    None, which is sent as JSON null)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "UNSET"

    def __bool__(self):
        return False


UNSET = _Unset()


class RolloutTimeout(TimeoutError):
    """wait_rollout() ran out of time; `rollout` is the last one seen."""

    def __init__(self, message, rollout):
        super().__init__(message)
        self.rollout = rollout


def format_time(t):
    """A time for the API: RFC 3339 UTC with milliseconds. Takes a str
    (sent as it is), a datetime (naive means UTC) or a Unix time in
    seconds (int or float)."""
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, datetime.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        t = t.timestamp()
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        ms = int(round(t * 1000))
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    raise TypeError("a time is a str, a datetime or a Unix time in seconds, not %r" % (t,))


def _readable(sock):
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit
            p = select.poll()
            p.register(sock, select.POLLIN)
            return bool(p.poll(0))
        r, _, _ = select.select([sock], [], [], 0)
        return bool(r)
    except (OSError, ValueError):
        return True


def _quote(part):
    return urllib.parse.quote(str(part), safe="")


def _retry_after(value):
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the server never sends one


class Client:
    """A modelwatch server at `url` (http:// or https://, optionally with a
    path prefix), authenticated with the bearer `token`.

    timeout: seconds to wait for a connection and for each read (a slow
    server raises Unreachable after it). ssl_context: for https, e.g. one
    that trusts a private CA. Errors raise subclasses of ModelwatchError
    (modelwatch.errors).
    """

    def __init__(self, url, token=None, timeout=30.0, ssl_context=None, max_idle=4,
                 user_agent="modelwatch-python"):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("url must be http(s)://host[:port][/prefix], not %r" % url)
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._prefix = u.path.rstrip("/")
        self._ssl = ssl_context
        self._idle = []
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._ua = user_agent

    # ------------------------------------------------------------ plumbing
    def _connect(self, timeout):
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout,
                context=self._ssl or ssl.create_default_context(), blocksize=_CHUNK)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout,
                                          blocksize=_CHUNK)

    def _take(self, timeout):
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(timeout), False
            # An idle connection with something to read was closed by the
            # server (keep-alive timeout): never send a request into it.
            if conn.sock is None or _readable(conn.sock):
                conn.close()
                continue
            conn.timeout = timeout
            conn.sock.settimeout(timeout)
            return conn, True

    def _give_back(self, conn):
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self):
        """Closes the idle connections (the Client stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _headers(self, extra):
        h = {"User-Agent": self._ua, "Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(extra or {})
        return h

    def request(self, method, path, body=UNSET, query=None, headers=None, data=None,
                timeout=None, raw=False):
        """Sends one request and returns the parsed JSON answer (None for an
        empty one; bytes with raw=True). path is under the URL's prefix,
        e.g. "/api/v1/models"; body is sent as JSON (UNSET: no body); data
        (bytes) as it is; query is a dict (None values left out). Raises a
        ModelwatchError subclass for an error status, Unreachable when no
        answer came."""
        if query:
            q = {k: format_time(v) if isinstance(v, datetime.datetime) else v
                 for k, v in query.items() if v is not None}
            if q:
                path += "?" + urllib.parse.urlencode(q)
        h = self._headers(headers)
        if body is not UNSET:
            data = json.dumps(body, separators=(",", ":")).encode()
            h["Content-Type"] = "application/json"
        elif data is not None:
            h.setdefault("Content-Type", "application/octet-stream")
        timeout = self.timeout if timeout is None else timeout
        full = self._prefix + path
        for attempt in (0, 1):
            conn, reused = self._take(timeout)
            try:
                try:
                    conn.request(method, full, body=data, headers=h)
                except (BrokenPipeError, ConnectionResetError) as e:
                    # The server may have answered early (a 413 on the
                    # Content-Length) and closed: read that answer.
                    if conn.sock is None:
                        raise
                    sent_err = e
                else:
                    sent_err = None
                try:
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    if sent_err is not None:
                        raise sent_err
                    raise
                payload = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                # A kept-alive connection the server closed just as it was
                # taken: a GET is sent once more on a new one. Anything else
                # may have been carried out, so the caller decides (the
                # loggers re-send their batches knowing it).
                if reused and attempt == 0 and method in ("GET", "HEAD") and isinstance(
                        e, (http.client.RemoteDisconnected, BrokenPipeError,
                            ConnectionResetError, ConnectionAbortedError)):
                    continue
                raise Unreachable("%s: %s" % (type(e).__name__, e), method=method,
                                  path=path) from e
            if resp.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return self._answer(resp, payload, method, path, raw)

    def _answer(self, resp, payload, method, path, raw):
        if resp.status >= 400:
            try:
                doc = json.loads(payload) if payload else None
            except ValueError:
                doc = None
            err = error_for(resp.status, doc, _retry_after(resp.getheader("Retry-After")),
                            method, path)
            if doc is None and payload:
                err.message = payload[:300].decode("utf-8", "replace")
                err.args = (err._text(),)
            raise err
        if raw:
            return payload
        if not payload:
            return None
        return json.loads(payload)

    # ------------------------------------------------------------ registry
    def create_model(self, name, description=None, tags=None):
        """Registers a model (409 Conflict if the name is taken)."""
        body = {"name": name}
        if description is not None:
            body["description"] = description
        if tags is not None:
            body["tags"] = tags
        return self.request("POST", "/api/v1/models", body)

    def get_model(self, name):
        return self.request("GET", "/api/v1/models/%s" % _quote(name))

    def list_models(self, q=None):
        """Every model (following the pages), optionally those whose name
        contains q."""
        return self._pages("/api/v1/models", "models", {"q": q})

    def create_version(self, model, schema=None, metrics=None, params=None, tags=None,
                       description=None, source=None, run_id=None):
        """Creates the next version (status `pending` until its artifact is
        uploaded). schema is needed before predictions can be logged:
        {"features": [{"name", "type"}], "prediction": {"type"}}."""
        body = {k: v for k, v in (("schema", schema), ("metrics", metrics),
                                  ("params", params), ("tags", tags),
                                  ("description", description), ("source", source),
                                  ("run_id", run_id)) if v is not None}
        return self.request("POST", "/api/v1/models/%s/versions" % _quote(model), body)

    def get_version(self, model, version):
        return self.request("GET", "/api/v1/models/%s/versions/%s" % (_quote(model),
                                                                      _quote(version)))

    def list_versions(self, model):
        return self._pages("/api/v1/models/%s/versions" % _quote(model), "versions", {})

    def upload_artifact(self, model, version, path_or_fileobj, timeout=None):
        """Uploads a version's artifact from a file path or a binary file
        object, streamed (never whole in memory): the sha256 is computed
        first (header X-Content-SHA256), then the bytes are sent from the
        same place again. A file object that cannot seek is copied to a
        temporary file first. Returns the version, now `ready`. 422 when
        the digest the server computed differs, 409 when the version has
        an artifact already."""
        own = None
        if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
            f = own = open(path_or_fileobj, "rb")
        else:
            f = path_or_fileobj
        try:
            seekable = False
            try:
                seekable = f.seekable()
            except (AttributeError, io.UnsupportedOperation, ValueError):
                pass
            if not seekable:
                spool = tempfile.TemporaryFile()
                shutil.copyfileobj(f, spool, _CHUNK)
                f = spool
                if own is None:
                    own = spool
                else:
                    own.close()
                    own = spool
                f.seek(0)
            start = f.tell()
            digest = hashlib.sha256()
            size = 0
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
            f.seek(start)
            return self._put_stream(
                "/api/v1/models/%s/versions/%s/artifact" % (_quote(model), _quote(version)),
                f, size, digest.hexdigest(), timeout)
        finally:
            if own is not None:
                own.close()

    def _put_stream(self, path, f, size, sha256, timeout):
        # A fresh connection: a stream cannot be sent twice.
        conn = self._connect(self.timeout if timeout is None else timeout)
        h = self._headers({"Content-Type": "application/octet-stream",
                           "Content-Length": str(size), "X-Content-SHA256": sha256})
        try:
            try:
                conn.request("PUT", self._prefix + path, body=_Limited(f, size), headers=h)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the body was read: the answer says why
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise Unreachable("%s: %s" % (type(e).__name__, e), method="PUT", path=path) from e
        finally:
            conn.close()
        return self._answer(resp, payload, "PUT", path, False)

    def download_artifact(self, model, version, path_or_fileobj, timeout=None):
        """Streams a version's artifact into a file path or a binary file
        object and checks it against the sha256 the server sends
        (ValueError on a mismatch; a path is then removed). Returns the
        sha256."""
        path = "/api/v1/models/%s/versions/%s/artifact" % (_quote(model), _quote(version))
        conn = self._connect(self.timeout if timeout is None else timeout)
        own = isinstance(path_or_fileobj, (str, bytes, os.PathLike))
        out = open(path_or_fileobj, "wb") if own else path_or_fileobj
        ok = False
        try:
            try:
                conn.request("GET", self._prefix + path, headers=self._headers(None))
                resp = conn.getresponse()
                if resp.status >= 400:
                    payload = resp.read()
                    return self._answer(resp, payload, "GET", path, False)
                want = (resp.getheader("X-Content-SHA256") or "").lower()
                digest = hashlib.sha256()
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
            except (OSError, http.client.HTTPException) as e:
                raise Unreachable("%s: %s" % (type(e).__name__, e), method="GET",
                                  path=path) from e
            got = digest.hexdigest()
            if want and got != want:
                raise ValueError("artifact digest mismatch: expected %s, got %s" % (want, got))
            ok = True
            return got
        finally:
            conn.close()
            if own:
                out.close()
                if not ok:
                    try:
                        os.unlink(path_or_fileobj)
                    except OSError:
                        pass

    # ------------------------------------------------------------ governance
    def _decide(self, model, version, decision, comment):
        body = {"decision": decision}
        if comment is not None:
            body["comment"] = comment
        return self.request("POST", "/api/v1/models/%s/versions/%s/approval" % (
            _quote(model), _quote(version)), body)

    def approve(self, model, version, comment=None):
        """Approves a ready version (403 `self_approval` for the token that
        created it)."""
        return self._decide(model, version, "approved", comment)

    def reject(self, model, version, comment=None):
        return self._decide(model, version, "rejected", comment)

    def protect_alias(self, model, alias, require_approval=True):
        return self.request("PUT", "/api/v1/models/%s/protected-aliases/%s" % (
            _quote(model), _quote(alias)), {"require_approval": require_approval})

    # ------------------------------------------------------------ aliases
    def promote(self, model, alias, version, expected_version=UNSET, reason=None):
        """Points `alias` at `version`. expected_version makes it a
        compare-and-swap: the version the alias must point to now, or None
        for "the alias must not exist yet"; 409 Conflict (with
        current_version) otherwise. Left out (UNSET), the move is
        unconditional. 403 `not_approved` on a protected alias."""
        body = {"version": version}
        if expected_version is not UNSET:
            body["expected_version"] = expected_version
        if reason is not None:
            body["reason"] = reason
        return self.request("PUT", "/api/v1/models/%s/aliases/%s" % (_quote(model),
                                                                     _quote(alias)), body)

    def get_alias(self, model, alias):
        return self.request("GET", "/api/v1/models/%s/aliases/%s" % (_quote(model),
                                                                     _quote(alias)))

    def alias_history(self, model, alias):
        return self.request("GET", "/api/v1/models/%s/aliases/%s/history" % (
            _quote(model), _quote(alias)))["history"]

    def rollback(self, model, alias, to_version=None, reason=None):
        """Moves the alias back to the version it held before (or
        to_version). 409 when there is nothing earlier."""
        body = {}
        if to_version is not None:
            body["to_version"] = to_version
        if reason is not None:
            body["reason"] = reason
        return self.request("POST", "/api/v1/models/%s/aliases/%s/rollback" % (
            _quote(model), _quote(alias)), body)

    # ------------------------------------------------------------ rollouts
    def start_rollout(self, model, alias, candidate_version, steps, analysis=None,
                      mode="canary"):
        """Starts a canary (or shadow) rollout of candidate_version onto
        alias. steps: [{"weight_percent", "hold_seconds"}] or
        [(weight_percent, hold_seconds)]; analysis: the checks
        (RolloutAnalysis: max_drift_share, min_predictions, metric, ...).
        Returns the rollout (its "id" for the other calls)."""
        st = [s if isinstance(s, dict) else {"weight_percent": s[0], "hold_seconds": s[1]}
              for s in steps]
        body = {"alias": alias, "candidate_version": candidate_version, "mode": mode,
                "steps": st}
        if analysis is not None:
            body["analysis"] = analysis
        return self.request("POST", "/api/v1/models/%s/rollouts" % _quote(model), body)

    def get_rollout(self, model, rollout_id):
        return self.request("GET", "/api/v1/models/%s/rollouts/%s" % (_quote(model),
                                                                      _quote(rollout_id)))

    def list_rollouts(self, model, state=None):
        """The model's rollouts, newest first (every page)."""
        return self._pages("/api/v1/models/%s/rollouts" % _quote(model), "rollouts",
                           {"state": state})

    def _control(self, model, rollout_id, what, reason):
        body = {} if reason is None else {"reason": reason}
        return self.request("POST", "/api/v1/models/%s/rollouts/%s/%s" % (
            _quote(model), _quote(rollout_id), what), body)

    def pause_rollout(self, model, rollout_id, reason=None):
        return self._control(model, rollout_id, "pause", reason)

    def resume_rollout(self, model, rollout_id, reason=None):
        return self._control(model, rollout_id, "resume", reason)

    def abort_rollout(self, model, rollout_id, reason=None):
        return self._control(model, rollout_id, "abort", reason)

    def promote_rollout(self, model, rollout_id, reason=None):
        return self._control(model, rollout_id, "promote", reason)

    def wait_rollout(self, model, rollout_id, timeout=600.0, poll=1.0):
        """Polls the rollout until it is promoted or aborted and returns it
        (with its timeline). A paused rollout is waited on too. Raises
        RolloutTimeout (a TimeoutError) after timeout seconds; errors of
        the polls other than Unreachable are raised at once."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = self.get_rollout(model, rollout_id)
                if last.get("state") in _FINAL_ROLLOUT_STATES:
                    return last
            except Unreachable:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise RolloutTimeout("rollout %s of %s did not end within %g s (state %s)" % (
                    rollout_id, model, timeout, last and last.get("state")), last)
            time.sleep(min(poll, left))

    # ------------------------------------------------------------ monitoring
    def set_reference(self, model, version, rows=None, from_=None, to=None):
        """Sets the version's reference set from rows [{features,
        prediction}] or from the predictions logged in [from_, to)."""
        if rows is not None:
            body = {"rows": list(rows)}
        else:
            body = {"from": format_time(from_), "to": format_time(to)}
        return self.request("PUT", "/api/v1/models/%s/versions/%s/reference" % (
            _quote(model), _quote(version)), body)

    def drift(self, model, version_or_alias, from_=None, to=None, baseline=None):
        """The drift report of a version (or of the version an alias points
        to) over [from_, to) (default: the last hour); with baseline, the
        comparison with that version's window of the same time."""
        return self.request("GET", "/api/v1/models/%s/versions/%s/drift" % (
            _quote(model), _quote(version_or_alias)), query={
                "from": format_time(from_), "to": format_time(to), "baseline": baseline})

    def set_drift_config(self, model, version, config):
        return self.request("PUT", "/api/v1/models/%s/versions/%s/drift/config" % (
            _quote(model), _quote(version)), config)

    def log_predictions(self, model, version, rows, on_invalid=None):
        """One POST of prediction rows [{id?, timestamp?, features,
        prediction, label?}] (all stored or none: ValidationError lists
        every bad row). on_invalid="quarantine" stores the valid rows and
        keeps the invalid ones with their errors (list_quarantine) and
        returns {"accepted": n, "quarantined": k}. For a serving process,
        PredictionLogger batches, retries and never blocks. Returns
        {"accepted": n}."""
        return self.request("POST", "/api/v1/models/%s/versions/%s/predictions" % (
            _quote(model), _quote(version)), {"predictions": list(rows)},
            query={"on_invalid": on_invalid})

    def list_quarantine(self, model, version, since=None, until=None):
        """The invalid rows kept by log_predictions(on_invalid="quarantine"),
        oldest first, every page: [{id, timestamp, received_at, index, row,
        row_kept, row_bytes, errors, error_count}]; since/until (RFC 3339)
        bound their timestamps."""
        return self._pages("/api/v1/models/%s/versions/%s/quarantine" % (
            _quote(model), _quote(version)), "rows", {"from": since, "to": until})

    def log_labels(self, model, version, labels):
        """One POST of labels: [{"id", "label"}] or [(id, label)]."""
        ls = [x if isinstance(x, dict) else {"id": x[0], "label": x[1]} for x in labels]
        return self.request("POST", "/api/v1/models/%s/versions/%s/labels" % (
            _quote(model), _quote(version)), {"labels": ls})

    def erase(self, model, ids):
        """Erases the predictions and labels with these ids from every
        version of the model (admin): one request of at most 10,000 ids
        (strings or integers), all in one transaction, then the database
        files are scrubbed. Returns the counts {"ids", "versions": [...],
        "predictions", "labels", "prediction_ids", "categories",
        "files_scrubbed"}; the ids are never echoed or audited. Safe to
        repeat: ids already gone are found nowhere."""
        return self.request("POST", "/api/v1/models/%s/erasure" % _quote(model),
                            {"ids": list(ids)})

    def set_retention(self, model, days):
        """The model's own retention of raw predictions, labels and stored
        evaluations, in days (admin); None goes back to the server's
        default. Returns {"model", "retention_days", "default_retention_days"}."""
        return self.request("PUT", "/api/v1/models/%s/retention" % _quote(model),
                            {"days": days})

    # ------------------------------------------------------------ helpers
    def _pages(self, path, key, query):
        out, token = [], None
        while True:
            q = dict(query, page_token=token) if token else dict(query)
            page = self.request("GET", path, query=q)
            out.extend(page.get(key) or [])
            token = page.get("next_page_token")
            if not token:
                return out


class _Limited:
    """The next `size` bytes of a file, read in chunks by http.client."""

    def __init__(self, f, size):
        self.f = f
        self.left = size

    def read(self, n=-1):
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        chunk = self.f.read(n)
        self.left -= len(chunk)
        return chunk

