"""The signature test vector of orderflow, checked against the reference Standard Webhooks
library. orderflow's own signer is checked against the same vector in
webhooks/src/signature.rs, so both agree through it."""

from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
MSG_ID = "msg_test_1"
TIMESTAMP = 1700000000
BODY = '{"type":"order.completed","data":{"order_id":"o_1"}}'
EXPECTED = "v1,jVX/apxdfMLo/dXKe88/csQbS8slThBy9qwKWqdliQw="


def test_reference_library_produces_the_vector():
    signed = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(TIMESTAMP, tz=timezone.utc), BODY)
    assert signed == EXPECTED


def test_the_vector_key_is_bytes_0_to_31():
    assert Webhook(SECRET)._whsecret == bytes(range(32))
