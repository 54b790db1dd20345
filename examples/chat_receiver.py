#!/usr/bin/python3
"""A stand-in for a chat webhook (Slack, Mattermost, Discord, Teams or a
plain webhook): verifies each notification's Standard Webhooks signature
with the channel's secret (modelwatch.verify_webhook, clients/python) and
prints what a chat room would show.

Usage: chat_receiver.py [--port 9200] [--secret whsec_...]
"""
import argparse
import http.server
import json
import os
import sys
import time

try:
    import modelwatch as mw
except ImportError:  # not installed: the package of this tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "clients", "python"))
    import modelwatch as mw


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
                try:
                    mw.verify_webhook(args.secret, self.headers, body)
                    verdict = "valid"
                except mw.WebhookVerificationError as e:
                    verdict = "INVALID: %s" % e
                except ValueError:  # signed, not JSON
                    verdict = "valid"
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            text = payload.get("text") or payload.get("content") or json.dumps(payload)[:300]
            print("[%s chat] (signature %s) %s" % (time.strftime("%H:%M:%S"), verdict, text),
                  flush=True)
            self.send_response(401 if verdict.startswith("INVALID") else 200)
            self.end_headers()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
