"""A local fake of the parts of Stripe's HTTP API the portal uses, served on 127.0.0.1 from a
thread (no stripe-mock is reachable here): Checkout Sessions (create, retrieve) and refunds
(create). Creates honour Idempotency-Key (the same key returns the same object); every request
is kept in `requests` for assertions. Plus `signed`, which signs a webhook body the way Stripe
does, for tests to post to the webhook endpoint."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

TEST_WEBHOOK_SECRET = "whsec_test_fake_stripe"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    objects: dict[str, dict] = field(default_factory=dict)
    by_idempotency_key: dict[str, dict] = field(default_factory=dict)
    refund_status: str = "succeeded"

    def created(self, kind: str) -> list[dict]:
        return [o for o in self.objects.values() if o["object"] == kind]


def _unflatten(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (a[b][0][c]=v) back into the nested dict the SDK flattened."""
    root: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def serve_fake_stripe():
    """Start the fake; returns (FakeStripe, stop). Use through the `fake_stripe` fixture."""
    state = FakeStripe()
    ids = itertools.count(1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_fake_{next(ids)}")
            self.end_headers()
            self.wfile.write(data)

        def _record(self, params: dict) -> Recorded:
            recorded = Recorded(self.command, self.path, dict(self.headers), params)
            state.requests.append(recorded)
            return recorded

        def do_GET(self):  # noqa: N802 - http.server's naming
            self._record({})
            if self.path.startswith("/v1/checkout/sessions/"):
                found = state.objects.get(self.path.rsplit("/", 1)[-1])
                if found is not None:
                    return self._reply(200, found)
            return self._reply(404, {"error": {"type": "invalid_request_error"}})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            pairs = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
            params = _unflatten(pairs)
            recorded = self._record(params)
            key = recorded.headers.get("Idempotency-Key")
            with lock:
                if key and key in state.by_idempotency_key:
                    return self._reply(200, state.by_idempotency_key[key])
                if self.path == "/v1/checkout/sessions":
                    body = self._session(params)
                elif self.path == "/v1/refunds":
                    body = self._refund(params)
                else:
                    return self._reply(404, {"error": {"type": "invalid_request_error"}})
                state.objects[body["id"]] = body
                if key:
                    state.by_idempotency_key[key] = body
            return self._reply(200, body)

        def _session(self, params: dict) -> dict:
            n = next(ids)
            item = params["line_items"]["0"]
            return {
                "id": f"cs_test_fake_{n}",
                "object": "checkout.session",
                "mode": params.get("mode"),
                "url": f"{state.url}/pay/cs_test_fake_{n}",
                "amount_total": int(item["price_data"]["unit_amount"]) * int(item["quantity"]),
                "currency": item["price_data"]["currency"],
                "metadata": params.get("metadata", {}),
                "payment_method_types": list(params.get("payment_method_types", {}).values()),
                "payment_status": "unpaid",
                "status": "open",
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
                "client_reference_id": params.get("client_reference_id"),
                "payment_intent": None,
            }

        def _refund(self, params: dict) -> dict:
            return {
                "id": f"re_fake_{next(ids)}",
                "object": "refund",
                "amount": int(params["amount"]),
                "currency": "usd",
                "payment_intent": params["payment_intent"],
                "metadata": params.get("metadata", {}),
                "status": state.refund_status,
            }

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return state, stop


def signature(payload: str, secret: str = TEST_WEBHOOK_SECRET, timestamp: int | None = None):
    """The Stripe-Signature header for `payload`: t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<body>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(event_type: str, obj: dict, *, event_id: str | None = None, created=None) -> dict:
    """A Stripe-shaped event around `obj`."""
    return {
        "id": event_id or f"evt_test_{next(_event_ids)}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }


def signed(evt: dict, secret: str = TEST_WEBHOOK_SECRET) -> tuple[bytes, str]:
    """(body, Stripe-Signature header) for posting `evt` to the webhook endpoint."""
    payload = json.dumps(evt)
    return payload.encode(), signature(payload, secret)


_event_ids = itertools.count(1)
