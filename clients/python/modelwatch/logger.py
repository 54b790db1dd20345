"""Prediction and label logging for serving processes.

PredictionLogger.log() puts a row on a bounded in-memory queue and returns:
it never blocks on the network and never raises. Background threads
batch the rows (by size and by time), encode and POST them, and retry what
did not arrive (5xx, 429 after Retry-After, connection errors and timeouts)
with the same rows and ids, so a batch stored before its answer was lost
is not stored twice: the server refuses ids it already has, and that
refusal of a re-sent batch counts as delivered (duplicates_on_retry).
"""
import atexit
import collections
import json
import logging
import queue
import random
import threading
import time
import urllib.parse

from .client import format_time
from .errors import (ModelwatchError, PayloadTooLarge, RateLimited, ServerError,
                     Unreachable, ValidationError)
from .ids import _default as _ids

__all__ = ["PredictionLogger", "LabelLogger"]

log = logging.getLogger("modelwatch")
log.addHandler(logging.NullHandler())

_PRED = 0
_LABEL = 1
_KIND = ("predictions", "labels")


class _Marker:
    """Put on the queue by flush(): set once every row before it is sent."""

    __slots__ = ("event",)

    def __init__(self):
        self.event = threading.Event()


def _json_default(o):
    # numpy scalars and arrays, Decimal, ... as their plain value
    for attr in ("item", "tolist"):
        f = getattr(o, attr, None)
        if callable(f):
            return f()
    if hasattr(o, "__float__"):
        return float(o)
    raise TypeError("%s is not JSON serializable" % type(o).__name__)


def _encode(obj):
    return json.dumps(obj, separators=(",", ":"), allow_nan=False,
                      default=_json_default).encode()


def _nan_as_text(row):
    def fix(v):
        return "NaN" if isinstance(v, float) and v != v else v
    out = dict(row)
    if isinstance(out.get("features"), dict):
        out["features"] = {k: fix(v) for k, v in out["features"].items()}
    for k in ("prediction", "label"):
        if k in out:
            out[k] = fix(out[k])
    return out


class _TimeText:
    """Unix seconds -> RFC 3339 with ms; the part up to the second is
    cached (rows of one second share it)."""

    def __init__(self):
        self.sec = None
        self.prefix = ""

    def __call__(self, t):
        if t.__class__ is not float and t.__class__ is not int:
            return format_time(t)
        ms = int(t * 1000 + 0.5)
        sec = ms // 1000
        if sec != self.sec:
            self.sec = sec
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return "%s.%03dZ" % (self.prefix, ms % 1000)


class _BatchLogger:
    def __init__(self, client, model, version, batch_size=500, flush_interval=0.5,
                 queue_size=100_000, request_timeout=10.0, max_backoff=5.0,
                 max_retry_seconds=None, on_result=None, flush_at_exit=True,
                 exit_timeout=10.0):
        if batch_size < 1 or queue_size < 1 or flush_interval <= 0:
            raise ValueError("batch_size and queue_size must be >= 1, flush_interval > 0")
        self.client = client
        self.model = model
        self.version = version
        self._base = "/api/v1/models/%s/versions/%s/" % (
            urllib.parse.quote(str(model), safe=""), urllib.parse.quote(str(version), safe=""))
        self._bs = batch_size
        self._interval = flush_interval
        self._qsize = queue_size
        self._timeout = request_timeout
        self._max_backoff = max_backoff
        self._max_retry = max_retry_seconds
        self._on_result = on_result
        self._exit_timeout = exit_timeout
        self._dq = collections.deque()
        self._wake = threading.Event()
        self._wake_at = 1          # log() wakes the worker at this queue length
        self._closed = False       # log() refuses rows
        self._stop = False         # the worker ends once nothing is left
        self._abandon = threading.Event()  # the worker gives up what it holds
        self._lock = threading.Lock()
        self._taken = 0            # rows the builder took off the queue ...
        self._settled = 0          # ... and of those, the ones settled
        # Batches built (JSON) and waiting for the sender: one, so the next
        # is encoded while the previous one is on the wire.
        self._handoff = queue.Queue(maxsize=1)
        self._builder_done = False
        self._tt = _TimeText()
        self._warned = 0.0
        self._c = {"sent": 0, "batches": 0, "retries": 0, "dropped_queue_full": 0,
                   "dropped_closed": 0, "rejected": 0, "duplicates_on_retry": 0,
                   "labels_sent": 0, "labels_rejected": 0, "abandoned": 0}
        self._last_error = None
        name = "modelwatch-logger-%s-%s" % (model, version)
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._sender = threading.Thread(target=self._send_loop, daemon=True,
                                        name=name + "-sender")
        self._thread.start()
        self._sender.start()
        self._atexit = flush_at_exit
        if flush_at_exit:
            atexit.register(self._at_exit)

    # ------------------------------------------------------------ the serving side
    def _put(self, item):
        dq = self._dq
        dq.append(item)
        if len(dq) >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    def _drop(self):
        with self._lock:
            self._c["dropped_closed" if self._closed else "dropped_queue_full"] += 1

    def log_label(self, id, label):
        """Queues the label of the prediction `id` (sent after the
        predictions logged before it). Returns False when it was dropped."""
        try:
            if self._closed or len(self._dq) >= self._qsize:
                self._drop()
                return False
            self._put((_LABEL, id, label))
            return True
        except Exception:  # noqa: BLE001 - never into the serving path
            return False

    # ------------------------------------------------------------ control
    def flush(self, timeout=None):
        """Waits until every row logged before the call was sent (or
        refused); True if so within timeout seconds."""
        if not self._thread.is_alive():
            return not self._dq
        m = _Marker()
        self._dq.append(m)
        self._wake.set()
        return m.event.wait(timeout)

    def close(self, timeout=10.0):
        """Sends what is queued (waiting up to timeout seconds), then stops
        the thread; rows still unsent are given up (stats: queued,
        abandoned). Later log() calls drop their rows (dropped_closed).
        Returns True if everything was sent."""
        if self._closed and not self._thread.is_alive():
            return not self._dq and self._taken == self._settled
        self._closed = True
        ok = self.flush(timeout)
        self._stop = True
        self._abandon.set()
        self._wake.set()
        wait = 5.0 if ok else max(1.0, self._timeout + 1)
        self._thread.join(wait)
        self._sender.join(wait)
        if self._atexit:
            try:
                atexit.unregister(self._at_exit)
            except Exception:  # noqa: BLE001
                pass
        return ok

    def _at_exit(self):
        self.close(self._exit_timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stats(self):
        """Counters (rows unless named otherwise):
        queued: logged, not yet sent or refused (queue + batch in flight);
        sent: stored (answered 2xx); batches: batches stored (HTTP);
        retries: re-sends after 5xx, 429 or no answer (HTTP requests);
        dropped_queue_full: refused by log() on a full queue;
        dropped_closed: logged after close();
        rejected: refused by the server (a 4xx other than the duplicate ids
        of a re-sent batch), last_error says why;
        duplicates_on_retry: rows of a re-sent batch the server already had
        (the first attempt arrived, its answer did not): delivered once;
        labels_sent, labels_rejected: the same for log_label();
        abandoned: given up by close() while the server did not answer;
        last_error: the last refusal or transient failure (str) or None."""
        with self._lock:
            s = dict(self._c)
            s["last_error"] = self._last_error
            held = self._taken - self._settled
        s["queued"] = held + len(self._dq)  # (a flush() waiting adds one for a moment)
        return s

    # ------------------------------------------------------------ the worker
    def _run(self):
        dq = self._dq
        batch = ([], [])  # predictions, labels
        started = None
        bs = self._bs
        while True:
            try:
                if self._abandon.is_set():
                    self._give_up(batch)
                    return
                marker = None
                taken = 0
                while dq and len(batch[0]) < bs and len(batch[1]) < bs:
                    item = dq.popleft()
                    if item.__class__ is _Marker:
                        marker = item
                        break
                    batch[item[0]].append(item)
                    taken += 1
                    if started is None:
                        started = time.monotonic()
                if taken:
                    with self._lock:
                        self._taken += taken
                full = len(batch[0]) >= bs or len(batch[1]) >= bs
                due = started is not None and (
                    self._stop or time.monotonic() - started >= self._interval)
                if marker is not None or full or due:
                    self._wake_at = 1 << 62
                    for kind in (_PRED, _LABEL):  # predictions first: labels name them
                        if batch[kind]:
                            job = self._build(kind, batch[kind])
                            del batch[kind][:]
                            if not self._hand(job):
                                self._note(abandoned=len(job[1]))
                                self._settle_taken(job[3])
                    started = None
                    if marker is not None and not self._hand(marker):
                        marker.event.set()
                    continue
                if self._stop and not dq:
                    self._builder_done = True
                    self._hand(None)
                    return
                # Nothing to send yet: sleep until enough rows arrive (any,
                # with an empty batch) or the oldest one's time is up.
                need = 1 if started is None else bs - max(len(batch[0]), len(batch[1]))
                self._wake_at = need
                self._wake.clear()
                if len(dq) >= need or self._stop or self._abandon.is_set():
                    continue
                if started is None:
                    self._wake.wait()
                else:
                    self._wake.wait(max(0.0, self._interval - (time.monotonic() - started)))
            except Exception:  # noqa: BLE001 - the worker must not die
                log.exception("modelwatch logger: unexpected error")
                time.sleep(0.1)

    def _give_up(self, batch):
        """close() ran out of time: what is left is abandoned."""
        held = len(batch[0]) + len(batch[1])
        n = held
        while self._dq:
            item = self._dq.popleft()
            if item.__class__ is _Marker:
                item.event.set()
            else:
                n += 1
        with self._lock:
            self._c["abandoned"] += n
            self._taken += n - held
            self._settled += n
        self._builder_done = True
        try:
            self._handoff.put_nowait(None)
        except queue.Full:
            pass  # the sender sees _builder_done

    def _hand(self, job):
        """Gives the sender a job (waits while it has one waiting); False
        when close() gave up meanwhile."""
        while True:
            try:
                self._handoff.put(job, timeout=0.2)
                return True
            except queue.Full:
                if self._abandon.is_set():
                    return False

    def _settle_taken(self, n):
        with self._lock:
            self._settled += n

    def _send_loop(self):
        """The sender: POSTs the built batches in order, each until it is
        stored or refused."""
        while True:
            try:
                job = self._handoff.get(timeout=0.5)
            except queue.Empty:
                if self._builder_done:
                    return
                continue
            if job is None:
                return
            if job.__class__ is _Marker:
                job.event.set()
                continue
            kind, rows, body, n = job
            try:
                if rows:
                    self._send(kind, rows, body)
            except Exception:  # noqa: BLE001 - the sender must not die
                log.exception("modelwatch logger: unexpected error sending a batch")
            finally:
                self._settle_taken(n)

    def _note(self, **add):
        with self._lock:
            for k, v in add.items():
                self._c[k] += v

    def _settle(self, kind, outcome, rows, error=None):
        if self._on_result is not None and rows:
            try:
                self._on_result(_KIND[kind], outcome, rows, error)
            except Exception:  # noqa: BLE001 - the caller's bug is not ours to die of
                log.exception("modelwatch logger: on_result raised")

    def _reject(self, kind, rows, error):
        text = error if isinstance(error, str) else str(error)
        with self._lock:
            self._c["rejected" if kind == _PRED else "labels_rejected"] += len(rows)
            self._last_error = text
        now = time.monotonic()
        if now - self._warned > 10:
            self._warned = now
            log.warning("modelwatch: %d %s of %s v%s refused: %s", len(rows), _KIND[kind],
                        self.model, self.version, text)
        self._settle(kind, "rejected", rows, text)

    def _row(self, kind, item):
        if kind == _PRED:
            return {"id": item[1], "timestamp": self._tt(item[2]), "features": item[3],
                    "prediction": item[4]}
        return {"id": item[1], "label": item[2]}

    def _body(self, kind, rows):
        """(body, rows it holds): rows that cannot be JSON are refused here."""
        key = _KIND[kind]
        try:
            return _encode({key: rows}), rows
        except (TypeError, ValueError):
            pass
        good, parts = [], []
        for r in rows:
            try:
                try:
                    parts.append(_encode(r))
                except ValueError:
                    # NaN is sent as the server spells a missing number
                    r = _nan_as_text(r)
                    parts.append(_encode(r))
                good.append(r)
            except (TypeError, ValueError) as e:
                self._reject(kind, [r], "row is not JSON (NaN, infinity or an unknown "
                                        "type): %s" % e)
        return b'{"%s":[%s]}' % (key.encode(), b",".join(parts)), good

    def _backoff(self, attempt, err):
        ra = getattr(err, "retry_after", None)
        if ra is not None and isinstance(err, (RateLimited, ServerError)):
            return ra + random.uniform(0, 0.1 * max(ra, 0.5))
        return min(self._max_backoff, 0.1 * 2 ** min(attempt, 16)) * random.uniform(0.5, 1.0)

    def _build(self, kind, items):
        """A job for the sender: (kind, rows, their JSON body, rows taken)."""
        rows = []
        for it in items:
            try:
                rows.append(self._row(kind, it))
            except Exception as e:  # noqa: BLE001 - e.g. a timestamp that is no time
                self._reject(kind, [{"id": it[1]}], "bad row: %s" % e)
        body, rows = self._body(kind, rows) if rows else (b"", rows)
        return kind, rows, body, len(items)

    def _send(self, kind, rows, body=None, retried=False):
        """Sends rows until they are stored or refused; retried: an earlier
        attempt of these very rows may have been stored."""
        if self._abandon.is_set():
            self._note(abandoned=len(rows))
            return
        path = self._base + _KIND[kind]
        attempt = 0
        first_failure = None
        if body is None:
            body, rows = self._body(kind, rows)
        while rows:
            try:
                self.client.request("POST", path, data=body,
                                    headers={"Content-Type": "application/json"},
                                    timeout=self._timeout)
            except ValidationError as e:
                rows, changed = self._sort_refusal(kind, rows, e, retried)
                if rows and changed:
                    body, rows = self._body(kind, rows)
                    continue
                if rows:
                    self._reject(kind, rows, e)
                return
            except PayloadTooLarge as e:
                if len(rows) == 1:
                    self._reject(kind, rows, e)
                    return
                half = len(rows) // 2
                self._send(kind, rows[:half], retried=retried)
                self._send(kind, rows[half:], retried=retried)
                return
            except (RateLimited, ServerError, Unreachable) as e:
                attempt += 1
                retried = True
                now = time.monotonic()
                first_failure = first_failure or now
                with self._lock:
                    self._c["retries"] += 1
                    self._last_error = str(e)
                if now - self._warned > 10:
                    self._warned = now
                    log.warning("modelwatch: %s of %s v%s not sent yet, retrying: %s",
                                _KIND[kind], self.model, self.version, e)
                if self._max_retry is not None and now - first_failure > self._max_retry:
                    self._reject(kind, rows, "gave up after %g s: %s" % (self._max_retry, e))
                    return
                if self._abandon.wait(self._backoff(attempt, e)):
                    with self._lock:
                        self._c["abandoned"] += len(rows)
                    return
                continue
            except ModelwatchError as e:  # 400, 401, 403, 404, 409: resending cannot help
                self._reject(kind, rows, e)
                return
            with self._lock:
                self._c["sent" if kind == _PRED else "labels_sent"] += len(rows)
                self._c["batches"] += 1
            self._settle(kind, "sent", rows)
            return

    def _sort_refusal(self, kind, rows, err, retried):
        """A 422 lists its bad rows: those whose only fault is an id the
        version already has are delivered when the batch was re-sent
        (settled as "duplicate"), refused otherwise; rows with other faults
        are refused. Returns (the rows left to send, whether any were
        taken out)."""
        errs = err.errors
        if not errs or any(not isinstance(x, dict) or not isinstance(x.get("index"), int)
                           for x in errs):
            return rows, False  # about the whole batch
        dup, bad = set(), set()
        for x in errs:
            i = x["index"]
            if not 0 <= i < len(rows):
                return rows, False
            if kind == _PRED and x.get("field") == "id" and \
                    "already stored" in str(x.get("message", "")):
                dup.add(i)
            else:
                bad.add(i)
        dup -= bad
        if dup:
            drows = [rows[i] for i in sorted(dup)]
            if retried:
                self._note(duplicates_on_retry=len(drows))
                self._settle(kind, "duplicate", drows)
            else:
                self._reject(kind, drows, "id already stored for this version (%s)" % err)
        if bad:
            msgs = "; ".join("row %s %s: %s" % (x.get("index"), x.get("field"), x.get("message"))
                             for x in errs[:3] if x["index"] in bad)
            self._reject(kind, [rows[i] for i in sorted(bad)], "%s [%s]" % (err, msgs))
        left = [r for i, r in enumerate(rows) if i not in dup and i not in bad]
        return left, True


class PredictionLogger(_BatchLogger):
    """Logs a version's predictions from a serving process.

    log() queues a row and returns at once (microseconds); a background
    thread makes batches of batch_size rows, or of what has waited
    flush_interval seconds, and a second one POSTs them in order to
    .../versions/{version}/predictions (the next batch is encoded while
    one is on the wire). Each row gets an ordered id (UUIDv7) unless the
    caller gives one, and the time of the log() call as its timestamp. A
    full queue (queue_size rows waiting; at most three batches more are
    being built or sent) drops the row and counts it. Transient failures are retried for ever
    (max_retry_seconds to give up) with the same rows: backoff up to
    max_backoff seconds, Retry-After honoured. Rows the server refuses
    (422 other than already stored ids, 400, 401, 403, 404) are counted as
    rejected and not sent again. on_result(kind, outcome, rows, error), if
    given, is called from the logger's threads for each settled group: kind
    "predictions" or "labels", outcome "sent", "duplicate" (a re-sent batch
    the server already had) or "rejected" (error: why), rows the dicts sent.
    The thread flushes at interpreter exit (up to exit_timeout seconds)
    unless flush_at_exit=False. See stats().
    """

    def log(self, features, prediction, id=None, timestamp=None):
        """Queues one prediction. features: {name: value} of the version's
        schema; prediction: its value; id: your id (default: a new
        UUIDv7), needed to attach a label later; timestamp: when it was
        made (Unix seconds, datetime or RFC 3339 text; default: now).
        Returns the id, or None when the row was dropped. Never raises."""
        try:
            if self._closed or len(self._dq) >= self._qsize:
                self._drop()
                return None
            if id is None:
                id, ms = _ids.next_ms()
                t = ms / 1000 if timestamp is None else timestamp
            else:
                t = time.time() if timestamp is None else timestamp
            self._put((_PRED, id, t, features, prediction))
            return id
        except Exception:  # noqa: BLE001 - never into the serving path
            return None


class LabelLogger(_BatchLogger):
    """Logs ground truth for predictions already logged by id, on the same
    machinery as PredictionLogger (queue, batches, retries, stats: here
    sent and rejected count labels). A label replaces the version's earlier
    one, so a re-sent batch is harmless."""

    def log(self, id, label):
        """Queues the label of prediction `id`; False when dropped."""
        return self.log_label(id, label)

    def stats(self):
        s = super().stats()
        s["sent"] = s.pop("labels_sent")
        s["rejected"] = s.pop("labels_rejected")
        return s
