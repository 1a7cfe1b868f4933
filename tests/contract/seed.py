"""Gives the contract run (tests/contract/run.sh) data to read before schemathesis starts.

Generated ids name nothing, so without this `GET /v1/orders/{id}` would only ever answer 404
and the attempts of a subscription would always be empty. It places three orders that end in
each way an order ends (completed, failed for stock, failed for payment), subscribes an
endpoint that refuses connections to their outcomes, and waits until the outcomes and the
failed attempts can be read. The ids go to libFuzzer-style dictionary files that
tests/contract/schemathesis.toml mixes into the generated requests.

    seed.py BASE_URL API_KEY OUT_DIR
"""

import json
import sys
import time
import urllib.error
import urllib.request

# How long the pipeline may take to decide the orders and attempt their webhooks, in seconds.
SETTLE_SECS = 60
POLL_SECS = 0.25
STOCKED_SKU = "CONTRACT-STOCKED"
UNSTOCKED_SKU = "CONTRACT-UNSTOCKED"
# Nothing listens there: every delivery attempt fails at once with a refused connection.
REFUSING_ENDPOINT = "http://127.0.0.1:9/contract-seed"


class Gateway:
    def __init__(self, base, key):
        self.base = base
        self.key = key

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def expect(self, status, method, path, body=None):
        got, answer = self.call(method, path, body)
        if got != status:
            sys.exit(f"seed: {method} {path} answered {got}, not {status}: {answer}")
        return answer


def order(customer, sku, token):
    return {
        "customer_id": customer,
        "email": f"{customer}@example.com",
        "currency": "EUR",
        "payment_token": token,
        "items": [{"sku": sku, "quantity": 1, "unit_price": 500}],
    }


def eventually(what, check):
    deadline = time.monotonic() + SETTLE_SECS
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_SECS)
    sys.exit(f"seed: {what} did not happen within {SETTLE_SECS} s")


def write_dictionary(path, values):
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f'"{value}"\n' for value in values)


def main(base, key, out_dir):
    gateway = Gateway(base, key)
    gateway.expect(202, "PUT", f"/v1/inventory/{STOCKED_SKU}", {"total": 1000})
    eventually(
        "the stock level",
        lambda: gateway.call("GET", f"/v1/inventory/{STOCKED_SKU}")[0] == 200,
    )
    subscription = gateway.expect(
        201,
        "POST",
        "/v1/webhooks",
        {"url": REFUSING_ENDPOINT, "event_types": ["order.completed", "order.failed"]},
    )["id"]

    placed = [
        gateway.expect(201, "POST", "/v1/orders", order(*args))["id"]
        for args in [
            ("contract-completes", STOCKED_SKU, "tok_visa"),
            ("contract-no-stock", UNSTOCKED_SKU, "tok_visa"),
            ("contract-declined", STOCKED_SKU, "tok_decline"),
        ]
    ]
    statuses = eventually("an outcome for every order", lambda: outcomes(gateway, placed))
    events = eventually(
        "a webhook attempt for every outcome",
        lambda: attempted_events(gateway, subscription, len(placed)),
    )

    write_dictionary(f"{out_dir}/order-ids.dict", placed)
    write_dictionary(f"{out_dir}/subscription-ids.dict", [subscription])
    write_dictionary(f"{out_dir}/event-ids.dict", events)
    print(f"seed: orders {', '.join(statuses)}; {len(events)} events attempted at {subscription}")


def outcomes(gateway, orders):
    statuses = [gateway.expect(200, "GET", f"/v1/orders/{o}")["status"] for o in orders]
    return None if "pending" in statuses else statuses


def attempted_events(gateway, subscription, count):
    page = gateway.expect(200, "GET", f"/v1/webhooks/{subscription}/attempts")
    events = sorted({attempt["event_id"] for attempt in page["data"]})
    return events if len(events) >= count else None


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
