#!/usr/bin/python3
"""Signs and sends one rollout.step command to a serving node, as modelwatch
does (Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature
`v1,<base64 HMAC-SHA256 of id.timestamp.body>` keyed with the base64 after
`whsec_`). For trying demo_node.py's rollouts by hand and for tests.

Usage:
  send_step.py --url http://127.0.0.1:9100/ --secret whsec_... \
      --rollout-id 7 --baseline 1 --candidate 2 --weight 25 \
      [--mode canary|shadow] [--state running|paused|promoted|aborted] \
      [--step 0] [--reason TEXT] [--at RFC3339] [--model fraud] \
      [--alias production] [--webhook-id ID] \
      (--modelwatch URL --token TOKEN | --artifact-url URL --sha256 HEX [--size N])

The candidate's artifact (url, sha256, size) is asked of modelwatch with
--modelwatch and --token unless --sha256 is given. Prints the node's answer
(HTTP status and body) and exits 1 unless it was 2xx. Re-sending with the
same --webhook-id is a redelivery. Standard library only.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def sign(secret, msg_id, timestamp, body):
    """The webhook-signature header of body (bytes)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg = b"%s.%s.%s" % (msg_id.encode(), str(timestamp).encode(), body)
    return "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def now_rfc3339():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def step_payload(model, alias, rollout_id, baseline, candidate, weight, mode, state, step,
                 artifact, reason=None, at=None):
    p = {"type": "rollout.step", "model": model, "alias": alias, "rollout_id": rollout_id,
         "baseline_version": baseline, "candidate_version": candidate,
         "candidate_weight_percent": weight, "mode": mode, "state": state, "step": step,
         "artifact": artifact, "at": at or now_rfc3339()}
    if reason:
        p["reason"] = reason
    return p


def send(url, secret, payload, msg_id=None, timestamp=None):
    """POSTs payload signed; returns (status, body text)."""
    body = json.dumps(payload).encode()
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    timestamp = int(time.time()) if timestamp is None else timestamp
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body)})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def artifact_of(modelwatch, token, model, version):
    base = modelwatch.rstrip("/")
    req = urllib.request.Request("%s/api/v1/models/%s/versions/%d" % (base, model, version),
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        v = json.loads(r.read())
    return {"url": "%s/api/v1/models/%s/versions/%d/artifact" % (base, model, version),
            "sha256": v["sha256"], "size": v["size"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:9100/", help="the node's command URL")
    p.add_argument("--secret", required=True, help="the node's whsec_ secret")
    p.add_argument("--model", default="fraud")
    p.add_argument("--alias", default="production")
    p.add_argument("--rollout-id", type=int, required=True)
    p.add_argument("--baseline", type=int, required=True, help="baseline_version")
    p.add_argument("--candidate", type=int, required=True, help="candidate_version")
    p.add_argument("--weight", type=int, required=True, help="candidate_weight_percent")
    p.add_argument("--mode", choices=["canary", "shadow"], default="canary")
    p.add_argument("--state", choices=["running", "paused", "promoted", "aborted"],
                   default="running")
    p.add_argument("--step", type=int, default=0)
    p.add_argument("--reason")
    p.add_argument("--at", help="RFC 3339 time of the step (default now)")
    p.add_argument("--webhook-id", help="default a new random id")
    p.add_argument("--modelwatch", help="modelwatch URL, to look the candidate's artifact up")
    p.add_argument("--token", help="a read token for --modelwatch")
    p.add_argument("--artifact-url")
    p.add_argument("--sha256")
    p.add_argument("--size", type=int, default=0)
    args = p.parse_args()
    if args.sha256:
        artifact = {"url": args.artifact_url or "", "sha256": args.sha256, "size": args.size}
    elif args.modelwatch and args.token:
        artifact = artifact_of(args.modelwatch, args.token, args.model, args.candidate)
    else:
        p.error("give --sha256 (and --artifact-url) or --modelwatch and --token")
    payload = step_payload(args.model, args.alias, args.rollout_id, args.baseline,
                           args.candidate, args.weight, args.mode, args.state, args.step,
                           artifact, args.reason, args.at)
    status, body = send(args.url, args.secret, payload, args.webhook_id)
    print(status, body)
    sys.exit(0 if 200 <= status < 300 else 1)


if __name__ == "__main__":
    main()
