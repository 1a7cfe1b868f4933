"""Schemathesis hooks of the contract run (tests/contract/run.sh), loaded by SCHEMATHESIS_HOOKS.

An order may list each SKU once, a rule no JSON Schema keyword can state. Generated orders
with two or more lines mostly repeat a SKU (Hypothesis likes short strings such as "0"), so
nearly every one would be refused with 422 and the paths behind validation (the write to
Kafka, `Location`, idempotent replays, reading the order back) would hardly be reached. This
hook renames a repeated SKU; the refusal of repeated SKUs is covered by the gateway's unit
tests.
"""

import schemathesis

# Room left in a 64-character SKU for the suffix that makes a repeat distinct.
SKU_KEEP_CHARS = 58


def distinct_skus(order):
    if not isinstance(order, dict) or not isinstance(order.get("items"), list):
        return
    seen = set()
    for index, line in enumerate(order["items"]):
        if not isinstance(line, dict) or not isinstance(line.get("sku"), str):
            continue
        if line["sku"] in seen:
            line["sku"] = f"{line['sku'][:SKU_KEEP_CHARS]}-{index}"
        seen.add(line["sku"])


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.method.upper() != "POST":
        return body
    if operation.path == "/v1/orders":
        distinct_skus(body)
    elif operation.path == "/v1/orders/batch" and isinstance(body, dict):
        for order in body.get("orders") or []:
            distinct_skus(order)
    return body
