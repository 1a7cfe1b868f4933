"""A webhook subscriber written the way a third party would write one: every delivery is
checked with the reference Standard Webhooks library (`standardwebhooks`), and each verified
delivery is appended as one JSON line to the output file. Deliveries that do not verify are
answered 401 and recorded with "verified": false.

Usage: webhook_receiver.py --port N --secret whsec_... --out deliveries.jsonl
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    webhook = Webhook(args.secret)
    lock = threading.Lock()
    out = open(args.out, "a", encoding="utf-8")

    def record(entry: dict) -> None:
        with lock:
            out.write(json.dumps(entry) + "\n")
            out.flush()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = webhook.verify(body, headers)
            except WebhookVerificationError as error:
                record({"verified": False, "error": str(error), "webhook_id": headers.get("webhook-id")})
                self.send_response(401)
                self.end_headers()
                return
            record({"verified": True, "webhook_id": headers["webhook-id"], "payload": payload})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
