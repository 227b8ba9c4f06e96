"""1,000 feedback items from 50 concurrent tasks → exactly 1,000 rows (issue 4, §2).

The requests go through the real ASGI app (middleware, route, thread pool, pooled engine);
200 of the items are also re-posted by a *different* task at the same time, so the
UNIQUE dedupe key is exercised by racing inserts, not only by sequential retries.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from cds_service.store.models import Feedback
from tests.conftest import NOW
from tests.store.conftest import SERVICE, count_rows, make_app

ITEMS = 1000
TASKS = 50
RACED_RETRIES = 200


def _item(card: dict[str, Any], n: int) -> dict[str, Any]:
    at = (NOW + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    if n % 2:
        return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": at}
    suggestion = card["suggestions"][n % 4 // 2]["uuid"]
    return {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": at,
    }


async def test_1000_feedback_items_from_50_tasks_are_exactly_1000_rows(
    database_url: str, engine: Engine
) -> None:
    app = make_app(database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as client:
            cards: list[dict[str, Any]] = []
            for _ in range(10):
                response = await client.post(
                    f"/cds-services/{SERVICE}",
                    json={
                        "hook": "patient-view",
                        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                        "context": {"userId": "Practitioner/x", "patientId": "pat-1"},
                        "prefetch": dict.fromkeys(
                            app.state.cds.registry.declarations[(SERVICE, "patient-view")].prefetch
                        ),
                    },
                )
                assert response.status_code == 200
                cards += [card for card in response.json()["cards"] if "uuid" in card]
            items = [_item(cards[n % len(cards)], n) for n in range(ITEMS)]
            per_task = ITEMS // TASKS
            # task t starts with the first few items of task t+1's slice, while task t+1
            # starts with those same items: the two inserts race
            workloads = [
                items[((t + 1) % TASKS) * per_task :][: RACED_RETRIES // TASKS]
                + items[t * per_task : (t + 1) * per_task]
                for t in range(TASKS)
            ]

            async def post_all(workload: list[dict[str, Any]]) -> list[dict[str, int]]:
                results = []
                for item in workload:
                    response = await client.post(
                        f"/cds-services/{SERVICE}/feedback", json={"feedback": [item]}
                    )
                    assert response.status_code == 200, response.text
                    results.append(response.json())
                return results

            started = time.perf_counter()
            outcomes = await asyncio.gather(*(post_all(w) for w in workloads))
            elapsed = time.perf_counter() - started

    results = [r for task in outcomes for r in task]
    assert len(results) == ITEMS + RACED_RETRIES
    assert sum(r["stored"] for r in results) == ITEMS
    assert sum(r["duplicates"] for r in results) == RACED_RETRIES
    assert count_rows(engine, Feedback) == ITEMS
    print(  # shown with `pytest -s`; the numbers quoted in docs/feedback.md
        f"\n{engine.dialect.name}: {len(results)} feedback POSTs ({ITEMS} distinct items) "
        f"from {TASKS} tasks in {elapsed:.2f} s ({len(results) / elapsed:.0f}/s)"
    )
