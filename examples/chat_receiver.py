#!/usr/bin/python3
"""A stand-in for a chat webhook (Slack, Mattermost, Discord, Teams or a
plain webhook): verifies each notification's Standard Webhooks signature
with the channel's secret and prints what a chat room would show.

Usage: chat_receiver.py [--port 9200] [--secret whsec_...]
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--port", type=int, default=9200)
    p.add_argument("--secret", help="the channel's whsec_ secret (skip checking if absent)")
    args = p.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            verdict = "unchecked"
            if args.secret:
                key = base64.b64decode(args.secret.split("_", 1)[1])
                msg = b"%s.%s.%s" % (self.headers.get("webhook-id", "").encode(),
                                     self.headers.get("webhook-timestamp", "").encode(), body)
                want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
                verdict = "valid" if want in self.headers.get("webhook-signature", "").split() \
                    else "INVALID"
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            text = payload.get("text") or payload.get("content") or json.dumps(payload)[:300]
            print("[%s chat] (signature %s) %s" % (time.strftime("%H:%M:%S"), verdict, text),
                  flush=True)
            self.send_response(200 if verdict != "INVALID" else 401)
            self.end_headers()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
