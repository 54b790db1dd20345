"""Peak RSS of modelwatch under hostile request bodies (see
bench_hostile_bodies.sh). Usage: bench_hostile_bodies.py <modelwatch>"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
os.environ["MODELWATCH_BIN"] = sys.argv[1]
import mwtest  # noqa: E402

MB = 1 << 20


def hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def post(port, path, body, token=None, chunked=False):
    """Sends the request, streaming the body until the server answers;
    returns the status."""
    c = socket.create_connection(("127.0.0.1", port))
    h = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1",
         "Content-Type: application/json"]
    if token:
        h.append("Authorization: Bearer " + token)
    h.append("Transfer-Encoding: chunked" if chunked else
             "Content-Length: %d" % len(body))
    c.sendall(("\r\n".join(h) + "\r\n\r\n").encode())
    c.setblocking(False)
    step = 256 * 1024
    for i in range(0, len(body), step):
        part = body[i:i + step]
        if chunked:
            part = b"%x\r\n%s\r\n" % (len(part), part)
        try:
            c.recv(1, socket.MSG_PEEK)
            break  # answered
        except BlockingIOError:
            pass
        except OSError:
            break
        try:
            c.setblocking(True)
            c.sendall(part)
            c.setblocking(False)
        except OSError:
            break
    c.setblocking(True)
    c.settimeout(300)
    data = b""
    try:
        while b"\r\n" not in data:
            d = c.recv(4096)
            if not d:
                break
            data += d
    except OSError:
        pass
    c.close()
    return int(data.split()[1]) if data else 0


def zeros(nbytes, prefix=b'{"token":['):
    n = max(1, (nbytes - len(prefix) - 2) // 2)
    return prefix + b"0," * (n - 1) + b"0]}"


def show(label, pid):
    print("%-58s %7.1f MB" % (label, hwm(pid)), flush=True)


def main():
    s = mwtest.Server(args=["--threads", "8"]).start()
    try:
        port, pid, admin = s.port, s.proc.pid, s.token
        s.post("/api/v1/models", {"name": "m"})
        s.post("/api/v1/models/m/versions", {"schema": {
            "features": [{"name": "x", "type": "numeric"}],
            "prediction": {"type": "numeric"}}})
        ingest = s.token_with("node", ["ingest"])
        show("peak RSS at start", pid)
        t0 = time.time()
        st = post(port, "/api/v1/session", zeros(32 * MB))
        show("after 32 MB sign-in body, no token (%d, %.2f s)" % (st, time.time() - t0),
             pid)
        t0 = time.time()
        out = []
        ts = [threading.Thread(target=lambda k=k: out.append(
            post(port, "/api/v1/session", zeros(16 * MB), chunked=k % 2 == 1)))
            for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        show("after 4 x 16 MB sign-in bodies at once (%s, %.2f s)" % (
            ",".join(map(str, out)), time.time() - t0), pid)
        t0 = time.time()
        st = post(port, "/api/v1/models", zeros(MB - 64, b'{"name":"x","tags":['), admin)
        show("after a 1 MB array to POST /api/v1/models (%d, %.2f s)" % (
            st, time.time() - t0), pid)
        bulk = b'{"predictions":[' + b",".join(
            [b"[" + b"0," * 49999 + b"0]"] * 400) + b"]}"
        t0 = time.time()
        st = post(port, "/api/v1/models/m/versions/1/predictions", bulk, ingest)
        show("after %.0f MB of values to predictions (%d, %.2f s)" % (
            len(bulk) / MB, st, time.time() - t0), pid)
    finally:
        s.cleanup()


main()
