#!/usr/bin/env python3
"""Verifies webhook requests the billing server sent, with the `standardwebhooks` package
(the Standard Webhooks reference library for Python, which this project did not write).

Usage: verify_webhooks.py CASES.json
CASES.json is a list of {"label", "secret", "id", "timestamp", "signature", "body"}.
Prints one line per case, "<label> OK" or "<label> REJECTED <why>", and exits 0.
Exits 3 when the package is missing.
"""
import json
import sys

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
except ImportError:
    print("the Python package standardwebhooks is missing: pip install standardwebhooks "
          "(.ci/run installs it)", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    for case in cases:
        headers = {
            "webhook-id": case["id"],
            "webhook-timestamp": case["timestamp"],
            "webhook-signature": case["signature"],
        }
        try:
            Webhook(case["secret"]).verify(case["body"], headers)
            print(f'{case["label"]} OK')
        except WebhookVerificationError as e:
            print(f'{case["label"]} REJECTED {e}')


if __name__ == "__main__":
    main()
