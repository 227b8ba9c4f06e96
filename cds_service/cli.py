"""The ``cds-service`` command line: serve, evaluate a fixture."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cds_service.settings import Settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cds_service.api.app import create_app

    settings = Settings()
    if not _is_loopback(args.host) and settings.development and not args.insecure:
        print(
            f"refusing to bind {args.host}: development mode (no trusted clients configured) "
            "accepts unauthenticated calls, so it binds to loopback only. Configure "
            "CDS_CLIENTS_FILE, or pass --insecure to override.",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        workers=1,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


def _load_request(path: Path) -> tuple[str, dict[str, Any]]:
    """A fixture: ``fixtures/<case>/request.json`` (with optional ``expect.json``) or a file."""
    file = path / "request.json" if path.is_dir() else path
    body = json.loads(file.read_text(encoding="utf-8"))
    service_id = body.pop("_serviceId", None) if isinstance(body, dict) else None
    if not isinstance(service_id, str):
        expect = file.parent / "expect.json"
        if expect.exists():
            service_id = json.loads(expect.read_text(encoding="utf-8")).get("service")
    if not isinstance(service_id, str):
        service_id = {
            "patient-view": "prenatal-cramps-convulsions",
            "encounter-start": "prenatal-visit",
        }.get(body.get("hook", ""), "prenatal-order-check")
    return service_id, body


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fastapi.testclient import TestClient

    from cds_service.api.app import create_app

    service_id, body = _load_request(Path(args.fixture))
    with TestClient(create_app(Settings())) as client:
        response = client.post(f"/cds-services/{service_id}", json=body)
    payload = response.json()
    if args.json or response.status_code != 200:
        print(json.dumps(payload, indent=2))
        return 0 if response.status_code == 200 else 1
    cards = payload.get("cards", [])
    if not cards:
        print("No cards (no advice for this patient).")
    for card in cards:
        print(f"[{card['indicator'].upper()}] {card['summary']}")
        if card.get("detail"):
            print("    " + card["detail"].replace("\n", "\n    "))
        print(f"    Source: {card['source']['label']} {card['source'].get('url', '')}".rstrip())
        for suggestion in card.get("suggestions", []):
            print(f"    → {suggestion['label']}")
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback host in development mode"
    )
    serve.set_defaults(func=cmd_serve)

    evaluate = sub.add_parser("evaluate", help="run one fixture request in-process")
    evaluate.add_argument("fixture", help="fixture folder or request JSON file")
    evaluate.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
