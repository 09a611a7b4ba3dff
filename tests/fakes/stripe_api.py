"""A local fake of Stripe's HTTP API, served on 127.0.0.1 from a background thread.

The real `stripe` SDK talks to it as to api.stripe.com: form-encoded bodies with nested keys,
Bearer key auth, Idempotency-Key replay, Stripe-shaped errors. A hosted checkout page at each
session's `url` lets a browser (or `pay()`) authorise the card. Webhook events are signed as
Stripe signs them and either POSTed to `webhook_url` from a delivery thread, or held for the
test to hand to the exchange itself (`hold_webhooks`, or no `webhook_url`).

    with FakeStripe() as fake:
        gateway = StripeGateway(fake.secret_key, fake.webhook_secret, fake.api_base)
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.stripe_state import Ledger, StripeFailure, invalid, public

_DROP = object()  # answer nothing and close the connection: an outage as the client sees it


@dataclass(frozen=True)
class Delivery:
    """One signed webhook as Stripe sends it: the body and its Stripe-Signature header."""

    event: dict[str, Any]
    payload: bytes
    header: str


@dataclass
class Recorded:
    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, Any]
    replayed: bool = False


@dataclass
class _Saved:
    endpoint: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class FakeStripe:
    def __init__(self, *, secret_key: str = "sk_test_fake_exchange",
                 webhook_secret: str = "whsec_fake_exchange",
                 now: Callable[[], float] = time.time, webhook_url: str | None = None) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.now = now
        self.webhook_url = webhook_url
        self.hold_webhooks = False
        self.held: list[Delivery] = []
        self.delivered: list[tuple[Delivery, int | None]] = []  # with the endpoint's status
        self.requests: list[Recorded] = []
        self.state = Ledger(lambda: self.now(), lambda: self.api_base)
        self._saved: dict[str, _Saved] = {}
        self._lock = threading.Lock()
        self._failures = 0
        self._failures_applied = False
        self._outbox: queue.Queue[Delivery | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # Lifecycle

    def start(self) -> FakeStripe:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._threads = [threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True),
                         threading.Thread(target=self._deliver_forever, daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        assert self._server is not None, "FakeStripe is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # Test controls

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.state.events

    def events_of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.state.events if e["type"] == type_]

    def add_connected_account(self, **params: Any) -> str:
        with self._lock:
            return str(self.state.add_account(params)["id"])

    def fail_next(self, n: int, *, applied: bool = False) -> None:
        """The next `n` API requests get no answer; with `applied`, each takes effect first
        (Stripe did the work, the answer was lost), so only idempotent retries are safe."""
        with self._lock:
            self._failures, self._failures_applied = n, applied

    def pay(self, session_id: str, *, decline: bool = False) -> list[Delivery]:
        """The payer pays on the hosted page; the webhooks this raises, signed now."""
        with self._lock:
            self.state.pay(session_id, decline=decline)
            events = self._take_fresh()
        return self._dispatch(events)

    def sign(self, event: dict[str, Any], *, signed_at: float | None = None,
             secret: str | None = None) -> Delivery:
        payload = json.dumps(event, indent=2).encode()
        return Delivery(event, payload, self.signature(payload, signed_at=signed_at, secret=secret))

    def signature(self, payload: bytes, *, signed_at: float | None = None,
                  secret: str | None = None) -> str:
        """The Stripe-Signature header for `payload`: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">."""
        stamp = int(self.now() if signed_at is None else signed_at)
        mac = hmac.new((secret or self.webhook_secret).encode(), f"{stamp}.".encode() + payload,
                       hashlib.sha256).hexdigest()
        return f"t={stamp},v1={mac}"

    def deliver(self, event: dict[str, Any], *, signed_at: float | None = None,
                secret: str | None = None) -> Delivery:
        """Send `event` again, or as a forger would (`secret`), or late (`signed_at`)."""
        delivery = self.sign(event, signed_at=signed_at, secret=secret)
        self._send(delivery)
        return delivery

    def resend(self, event_id: str) -> Delivery:
        """Stripe's retry of an event: the same body, a fresh signature."""
        return self.deliver(self.state.event(event_id))

    def take_held(self) -> list[Delivery]:
        held, self.held = self.held, []
        return held

    def release(self, order: Callable[[list[Delivery]], Iterable[Delivery]] = list) -> None:
        """POST the held webhooks to `webhook_url`, in the order `order` gives (e.g. reversed)."""
        assert self.webhook_url, "no webhook_url to release to"
        for delivery in order(self.take_held()):
            self._outbox.put(delivery)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued webhook was POSTed (call via asyncio.to_thread from a test
        whose webhook endpoint runs on the same event loop)."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks:
            if time.monotonic() > deadline:
                raise TimeoutError("webhooks still queued")
            time.sleep(0.01)

    # HTTP

    def answer(self, method: str, target: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes] | object:
        url = urlsplit(target)
        if url.path.startswith("/pay/"):
            return self._page(method, url.path.removeprefix("/pay/"), body)
        if not url.path.startswith("/v1/"):
            return _json(404, invalid(f"Unrecognized request URL ({method}: {url.path}).").body())
        params = parse_form(url.query if method == "GET" else body.decode())
        key = headers.get("idempotency-key") if method == "POST" else None
        with self._lock:
            if self._failures:
                self._failures -= 1
                if not self._failures_applied:
                    return _DROP
                self._api(method, url.path, headers, params, key)
                events = self._take_fresh()
                outcome: Any = _DROP
            else:
                outcome = self._api(method, url.path, headers, params, key)
                events = self._take_fresh()
        self._dispatch(events)
        return outcome

    def _api(self, method: str, path: str, headers: dict[str, str], params: dict[str, Any],
             key: str | None) -> tuple[int, dict[str, str], bytes]:
        request_id = "req_" + secrets.token_hex(7)
        extra = {"Request-Id": request_id, **({"Idempotency-Key": key} if key else {})}
        record = Recorded(method, path, key, params)
        self.requests.append(record)
        if headers.get("authorization") != f"Bearer {self.secret_key}":
            given = headers.get("authorization", "").removeprefix("Bearer ")
            return _json(401, {"error": {"type": "invalid_request_error", "message":
                         f"Invalid API Key provided: {given[:8]}****{given[-4:]}"}}, extra)
        endpoint = f"{method} {path}"
        if key is not None and key in self._saved:
            saved = self._saved[key]
            if saved.endpoint != endpoint or saved.params != params:
                return _json(400, {"error": {"type": "idempotency_error", "message":
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request."}}, extra)
            record.replayed = True
            return _json(saved.status, saved.body, {**extra, "Idempotent-Replayed": "true"})
        try:
            status, body = 200, self._route(method, path, params,
                                            {"id": request_id, "idempotency_key": key})
        except StripeFailure as failure:
            status, body = failure.status, failure.body()
            if not failure.saved:
                return _json(status, body, extra)
        if key is not None:
            self._saved[key] = _Saved(endpoint, params, status, body)
        return _json(status, body, extra)

    def _route(self, method: str, path: str, p: dict[str, Any],
               request: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        parts = path.strip("/").split("/")[1:]
        match method, parts:
            case "POST", ["checkout", "sessions"]:
                return public(s.create_session(p))
            case "GET", ["checkout", "sessions", sid]:
                return public(s.session(sid))
            case "POST", ["checkout", "sessions", sid, "expire"]:
                return public(s.expire_session(sid, request))
            case "GET", ["payment_intents", pid]:
                return public(s.intent(pid))
            case "POST", ["payment_intents", pid, "capture"]:
                return public(s.capture(pid, p, request))
            case "POST", ["payment_intents", pid, "cancel"]:
                return public(s.cancel(pid, p, request))
            case "POST", ["refunds"]:
                return public(s.refund(p, request))
            case "POST", ["accounts"]:
                return public(s.add_account(p))
            case "POST", ["transfers"]:
                return public(s.transfer(p, request))
            case "GET", ["events", eid]:
                return s.event(eid)
        raise invalid(f"Unrecognized request URL ({method}: {path}).", status=404, saved=False)

    def _page(self, method: str, session_id: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            session = self.state.sessions.get(session_id)
            if session is None or session["status"] != "open":
                return 410, {"Content-Type": "text/html"}, b"<h1>This checkout page has expired.</h1>"
            if method == "GET":
                return 200, {"Content-Type": "text/html; charset=utf-8"}, _page_html(session)
            decline = dict(parse_qsl(body.decode())).get("action") == "decline"
            self.state.pay(session_id, decline=decline)
            events = self._take_fresh()
        self._dispatch(events)
        if decline:
            return 303, {"Location": f"/pay/{session_id}"}, b""
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return 303, {"Location": target}, b""

    # Webhooks

    def _take_fresh(self) -> list[dict[str, Any]]:
        events, self.state.fresh_events = self.state.fresh_events, []
        return events

    def _dispatch(self, events: list[dict[str, Any]]) -> list[Delivery]:
        deliveries = [self.sign(event) for event in events]
        for delivery in deliveries:
            self._send(delivery)
        return deliveries

    def _send(self, delivery: Delivery) -> None:
        if self.hold_webhooks or self.webhook_url is None:
            self.held.append(delivery)
        else:
            self._outbox.put(delivery)

    def _deliver_forever(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while (delivery := self._outbox.get()) is not None:
            status: int | None = None
            request = urllib.request.Request(
                str(self.webhook_url), data=delivery.payload, method="POST",
                headers={"Content-Type": "application/json; charset=utf-8",
                         "Stripe-Signature": delivery.header,
                         "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
            try:
                with opener.open(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = None
            self.delivered.append((delivery, status))
            self._outbox.task_done()
        self._outbox.task_done()


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding: `a[b][0][c]=v` is {"a": {"b": [{"c": "v"}]}}; values stay strings."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, *rest = key.split("[")
        path = [head] + [part.rstrip("]") for part in rest]
        node = root
        for name, following in zip(path, path[1:], strict=False):
            node = node.setdefault(name or str(len(node)), {})
            if not isinstance(node, dict):
                raise invalid(f"Invalid form key: {key} (before {following})", saved=False)
        node[path[-1] or str(len(node))] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(re.fullmatch(r"\d+", k) for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _json(status: int, body: dict[str, Any],
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _page_html(session: dict[str, Any]) -> bytes:
    amount = session["amount_total"]
    name = html.escape(str(session["_intent_data"]["product"] or "Payment"))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Pay - Fake Stripe Checkout"
        f"</title></head><body><h1>{name}</h1>"
        f"<p id=amount>{amount // 100}.{amount % 100:02d} {html.escape(session['currency'].upper())}"
        f"</p><p id=email>{html.escape(str(session['customer_email'] or ''))}</p>"
        f"<form method=post action=\"/pay/{session['id']}\">"
        "<button type=submit name=action value=pay>Pay</button> "
        "<button type=submit name=action value=decline>Pay with a declined card</button></form>"
        f"<a href=\"{html.escape(str(session['cancel_url'] or '/'))}\">Cancel</a></body></html>"
    ).encode()


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            outcome = fake.answer(self.command, self.path, headers, body)
            if outcome is _DROP:
                self.close_connection = True
                return
            assert isinstance(outcome, tuple)
            status, extra, content = outcome
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
