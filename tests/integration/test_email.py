"""Email channels against a real SMTP server started here (Debian's
python3-aiosmtpd, in process, with a handler that records every mail and
can refuse a recipient or defer a mail): an alert arrives by mail with its
facts and the dashboard link, a test notification arrives, a 5xx refusal
makes the delivery dead and a 4xx is retried, the egress policy applies to
mail servers, and a channel's password is never shown nor sent in clear."""
import email
import email.policy
import hashlib
import json
import threading
import time

from mwtest import Server, expect, free_port, run, served
from test_delivery import deliveries, wait_for

try:
    from aiosmtpd.controller import Controller
except ImportError:  # pragma: no cover - make deps installs it
    Controller = None

PRIVATE = ["--allow-private-webhooks", "--alert-group-wait-seconds", "0",
           "--rate-limit", "0"]
SCHEMA = {"features": [{"name": "x", "type": "numeric"}],
          "prediction": {"type": "numeric"}}
SENDER = "modelwatch@example.com"


class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives. Recipients
    in `refuse` are answered 550 at RCPT; a mail to a recipient of `defer`
    is answered 451 at the end of DATA that many times, then taken."""

    def __init__(self, refuse=(), defer=None):
        self.mails = []      # (mail_from, [rcpt], message bytes)
        self.commands = []   # every command verb seen (AUTH, MAIL, ...)
        self.refuse = set(refuse)
        self.defer = dict(defer or {})
        self.lock = threading.Lock()
        box = self

        class Handler:
            async def handle_EHLO(self, server, session, envelope, hostname, responses):
                box.note("EHLO")
                session.host_name = hostname
                return responses

            async def handle_MAIL(self, server, session, envelope, address, options):
                box.note("MAIL")
                envelope.mail_from = address
                return "250 OK"

            async def handle_RCPT(self, server, session, envelope, address, options):
                box.note("RCPT")
                if address in box.refuse:
                    return "550 5.1.1 no such mailbox here"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                box.note("DATA")
                with box.lock:
                    for r in envelope.rcpt_tos:
                        if box.defer.get(r, 0) > 0:
                            box.defer[r] -= 1
                            return "451 4.3.0 try again later"
                    box.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content))
                return "250 Message accepted for delivery"

            async def handle_AUTH(self, server, session, envelope, args):
                box.note("AUTH")
                return "535 5.7.8 no"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def note(self, verb):
        with self.lock:
            self.commands.append(verb)

    def url(self, scheme="smtp"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def received(self):
        with self.lock:
            return list(self.mails)

    def close(self):
        self.controller.stop()


def need_smtpd():
    if Controller is None:
        raise AssertionError("python3-aiosmtpd is missing: make deps installs it")


def email_channel(s, name, box, to, **extra):
    body = {"name": name, "type": "email", "url": box.url(), "to": to, "from": SENDER}
    body.update(extra)
    return expect(s.post("/api/v1/channels", body), 201)


def model_rolled_forward(s):
    """fraud v1 then v2 on production, no traffic at all."""
    expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
    for v in (1, 2):
        expect(s.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
        blob = b"weights-%d" % v
        expect(s.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % v, raw=blob,
                         headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest()}),
               200)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v}), 200)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def delivery_to(s, target, states=("delivered", "dead", "failed")):
    return [d for d in deliveries(s) if d["target"] == target and d["state"] in states]


def test_alert_arrives_by_mail():
    need_smtpd()
    box = Mailbox()
    try:
        with served(args=PRIVATE) as s:
            ch = email_channel(s, "mail", box, ["ops@example.com", "oncall@example.org"])
            assert ch["to"] == ["ops@example.com", "oncall@example.org"], ch
            assert ch["from"] == SENDER and ch["url"] == box.url(), ch
            assert "secret" not in ch and "password" not in ch, ch
            model_rolled_forward(s)
            expect(s.post("/api/v1/alert-rules", {
                "name": "fraud-quiet", "model": "fraud", "alias": "production",
                "metric": "prediction_count", "op": "<", "threshold": 5,
                "for_seconds": 0, "interval_seconds": 3600, "severity": "critical",
                "labels": {"team": "risk"}, "channels": ["mail"],
                "action": "rollback"}), 201)
            ev = expect(s.post("/api/v1/alert-rules/fraud-quiet/evaluate"), 200)
            assert ev["state"] == "firing", ev
            mail_from, rcpts, raw = wait_for(box.received, what="the mail")[0]
            assert mail_from == SENDER, mail_from
            assert rcpts == ["ops@example.com", "oncall@example.org"], rcpts
            m = parse(raw)
            assert m["From"] == SENDER, m["From"]
            assert m["To"] == "ops@example.com, oncall@example.org", m["To"]
            assert m["Subject"] == (
                "[FIRING:1] fraud - fraud-quiet: fraud v2 (production) - "
                "prediction_count = 0 (threshold < 5), firing; rolled production "
                "back v2 -> v1"), m["Subject"]
            assert m["MIME-Version"] == "1.0"
            assert m.get_content_type() == "text/plain"
            assert m.get_content_charset() == "utf-8"
            assert m["Date"] and email.utils.parsedate_to_datetime(m["Date"])
            d = wait_for(lambda: delivery_to(s, "mail", ("delivered",)), what="delivered")[0]
            assert m["Message-ID"] == "<%s@example.com>" % d["webhook_id"], m["Message-ID"]
            assert d["last_status"] == 250 and d["url"] == box.url(), d
            assert d["payload"]["to"] == rcpts and d["payload"]["from"] == SENDER
            assert d["payload"]["subject"] == m["Subject"]
            text = m.get_content().replace("\r\n", "\n")
            for needle in ("FIRING - fraud-quiet: fraud v2 (production)",
                           "  Model:      fraud (production)\n",
                           "  Version:    2\n",
                           "  Metric:     prediction_count\n",
                           "  Value:      0\n",
                           "  Threshold:  < 5\n",
                           "  State:      firing\n",
                           "  Severity:   critical\n",
                           "  Action:     rolled production back v2 -> v1\n",
                           "team=risk",
                           "  Dashboard:  http://",
                           "/#/models/fraud\n"):
                assert needle in text, (needle, text)
            time.sleep(0.5)
            assert len(box.received()) == 1
    finally:
        box.close()


def test_test_notification_arrives():
    need_smtpd()
    box = Mailbox()
    try:
        with served(args=PRIVATE) as s:
            email_channel(s, "mail", box, ["ops@example.com"])
            t = expect(s.post("/api/v1/channels/mail/test"), 202)
            _, rcpts, raw = wait_for(box.received, what="the test mail")[0]
            m = parse(raw)
            assert rcpts == ["ops@example.com"]
            assert m["Subject"].startswith("[FIRING:1] modelwatch-test"), m["Subject"]
            assert "this channel works" in m.get_content(), m.get_content()
            assert m["Message-ID"] == "<%s@example.com>" % t["webhook_id"]
            d = wait_for(lambda: delivery_to(s, "mail", ("delivered",)), what="delivered")
            assert d[0]["kind"] == "alert.test", d
    finally:
        box.close()


def test_5xx_is_dead_4xx_is_retried():
    need_smtpd()
    box = Mailbox(refuse={"nobody@example.com"}, defer={"later@example.com": 1})
    try:
        with served(args=PRIVATE) as s:
            email_channel(s, "refused", box, ["nobody@example.com"])
            email_channel(s, "deferred", box, ["later@example.com"])
            expect(s.post("/api/v1/channels/refused/test"), 202)
            expect(s.post("/api/v1/channels/deferred/test"), 202)
            dead = wait_for(lambda: delivery_to(s, "refused", ("dead",)), what="dead")[0]
            assert dead["attempts"] == 1 and dead["last_status"] == 550, dead
            assert "SMTP 550" in dead["last_error"], dead
            # 451 first: failed and due again within the first backoff (5 s).
            first = wait_for(lambda: delivery_to(s, "deferred", ("failed", "delivered")),
                             what="the first attempt")[0]
            if first["state"] == "failed":
                assert first["last_status"] == 451 and "SMTP 451" in first["last_error"]
            done = wait_for(lambda: delivery_to(s, "deferred", ("delivered",)),
                            timeout=15, what="the retry")[0]
            assert [a["status"] for a in done["attempt_log"]] == [451, 250], done
            got = box.received()
            assert [r for _, r, _ in got] == [["later@example.com"]], got
            # By hand, a dead mail is sent again (and refused again).
            expect(s.post("/api/v1/deliveries/%d/retry" % dead["id"]), 200)
            wait_for(lambda: [d for d in delivery_to(s, "refused", ("dead",))
                              if d["attempts"] == 2], what="dead again")
    finally:
        box.close()


def test_egress_policy_applies_to_mail_servers():
    need_smtpd()
    box = Mailbox()
    try:
        with served(args=["--rate-limit", "0"]) as s:
            # A literal private address is refused when the channel is made...
            r = s.post("/api/v1/channels", {"name": "m", "type": "email", "url": box.url(),
                                            "to": ["ops@example.com"], "from": SENDER})
            expect(r, 422)
            assert "--allow-private-webhooks" in r.json["error"]["message"], r
            # ... a name is judged where it resolves, when the mail is sent.
            expect(s.post("/api/v1/channels", {
                "name": "m", "type": "email", "url": "smtp://localhost:%d" % box.port,
                "to": ["ops@example.com"], "from": SENDER}), 201)
            expect(s.post("/api/v1/channels/m/test"), 202)
            d = wait_for(lambda: delivery_to(s, "m", ("dead",)), what="refused")[0]
            assert "refused by egress policy" in d["last_error"], d
            assert not box.received() and not box.commands, box.commands
    finally:
        box.close()


def test_channel_validation_and_the_password_is_a_secret():
    need_smtpd()
    box = Mailbox()
    try:
        with served(args=PRIVATE) as s:
            good = {"name": "m", "type": "email", "url": box.url(),
                    "to": ["ops@example.com"], "from": SENDER}
            bad = [dict(good, url="https://mail.example.com"),
                   dict(good, url="smtp://user:pw@mail.example.com"),
                   dict(good, url="smtp://mail.example.com/path"),
                   dict(good, to=[]),
                   dict(good, to="ops@example.com"),
                   dict(good, to=["ops@example.com", "ops@example.com"]),
                   dict(good, to=["not an address"]),
                   dict(good, to=["ops@example.com\r\nBcc: x@example.com"]),
                   dict(good, **{"from": "Ops <ops@example.com>"}),
                   {k: v for k, v in good.items() if k != "from"},
                   dict(good, username="u"),
                   dict(good, password="p"),
                   dict(good, username="u", password="p\r\nQUIT"),
                   {"name": "h", "type": "slack", "url": box.url()},
                   {"name": "h", "type": "slack", "url": "http://127.0.0.1:9/x",
                    "to": ["ops@example.com"]}]
            for b in bad:
                expect(s.post("/api/v1/channels", b), 422)
            secret = "s3cret-Pa55word"
            ch = expect(s.post("/api/v1/channels", dict(good, username="alerts",
                                                        password=secret)), 201)
            assert ch["username"] == "alerts" and "password" not in ch, ch
            for r in (s.get("/api/v1/channels"), s.get("/api/v1/channels/m")):
                assert r.status == 200 and secret not in r.raw, r
            # Logging in needs TLS: over smtp:// to a server that offers no
            # STARTTLS, the mail is not sent and the password never leaves.
            expect(s.post("/api/v1/channels/m/test"), 202)
            d = wait_for(lambda: delivery_to(s, "m", ("failed", "dead")),
                         what="the attempt")[0]
            assert d["state"] == "failed", d
            assert "SSL" in d["last_error"] or "TLS" in d["last_error"], d
            r = s.get("/api/v1/deliveries?limit=100")
            assert secret not in r.raw
            assert "AUTH" not in box.commands and "MAIL" not in box.commands, box.commands
            assert not box.received()
            assert secret not in s.logtext()
    finally:
        box.close()


if __name__ == "__main__":
    run(globals())
