"""Writes samples/transport_order.jsonl: deterministic transport-order events for the examples.

A few lines are broken on purpose (malformed JSON, an unparseable weight) so the examples
show dead letters. Run: python scripts/make_samples.py
"""

import json
import os
import random
from datetime import datetime, timedelta, timezone

STATUSES = ["DRAFT", "NEW", "PLANNED", "PICKED_UP", "IN_TRANSIT", "DELIVERED", "CANCELLED"]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "transport_order.jsonl")


def main(count: int = 2000, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
    with open(OUT, "w", encoding="utf-8") as out:
        for i in range(count):
            planned = start + timedelta(seconds=i * 7 + rng.randint(0, 5))
            event = {
                "order_id": str(10_000 + i // 2),
                "status": rng.choice(STATUSES).lower() if i % 11 == 0 else rng.choice(STATUSES),
                "weight_kg": f"{rng.uniform(0, 2500):.3f}" if i % 97 else "n/a",
                "customer": rng.choice(["ACME", "Globex", "Initech", "Umbrella"]),
                "planned_at": planned.isoformat().replace("+00:00", "Z"),
                "destination": {"city": rng.choice(["Milano", "Torino", "Verona", "Bologna"]), "country": "IT"},
            }
            line = json.dumps(event)
            if i % 499 == 498:
                line = line[: len(line) // 2]  # a truncated line: malformed JSON
            out.write(line + "\n")


if __name__ == "__main__":
    main()
