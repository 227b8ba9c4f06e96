"""The ``cds-service`` command line: serve, evaluate fixtures, build fixtures, database, reports."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from cds_service import cli_fixtures
from cds_service.api.clients import check_deployment, is_loopback, load_clients
from cds_service.errors import ConfigurationError
from cds_service.settings import Settings

log = logging.getLogger("cds_service.cli")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cds_service.api.app import create_app
    from cds_service.api.observability import configure_logging, logging_config, worker_metrics_dir

    settings = Settings()
    configure_logging(settings)
    try:
        clients = load_clients(settings.clients_file)
        check_deployment(settings, clients)
    except ConfigurationError as exc:
        print(f"refusing to start: {exc.message}", file=sys.stderr)
        return 2
    if clients.development:
        if not is_loopback(args.host) and not args.insecure:
            print(
                f"refusing to bind {args.host}: development mode (no trusted clients configured) "
                "accepts unauthenticated calls, so it binds to loopback only. Configure "
                "CDS_CLIENTS_FILE, or pass --insecure to override.",
                file=sys.stderr,
            )
            return 2
        # Must be the first log line of serve: nobody should miss that calls are not checked.
        log.warning(
            "development mode, unauthenticated: no trusted clients configured "
            "(CDS_CLIENTS_FILE), every call is accepted without a JWT; bound to %s%s",
            args.host,
            "" if is_loopback(args.host) else " (--insecure)",
        )
    else:
        log.info("caller authentication on: %d trusted client(s)", len(clients))
    workers = max(1, args.workers)
    if workers > 1 or settings.prometheus_multiproc_dir is not None:
        # Each worker builds its own app from the same environment; /metrics sums them.
        log.info("metrics from %d worker(s) kept in %s", workers, worker_metrics_dir(settings))
    uvicorn.run(
        "cds_service.api.app:create_app" if workers > 1 else create_app(settings),
        factory=workers > 1,
        host=args.host,
        port=args.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings),
        access_log=False,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from cds_service.store import FeedbackStore

    store = FeedbackStore.from_settings(Settings())
    try:
        revision = store.upgrade()
    except Exception as exc:
        print(f"database upgrade failed ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"database schema at revision {revision} ({store.dialect})")
    return 0


def _since(value: str) -> Any:
    from cds_service.store import parse_since

    try:
        return parse_since(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_feedback_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cds_service.store import FeedbackStore, StoreUnavailable

    store = FeedbackStore.from_settings(Settings())
    try:
        if not store.schema_is_current():
            print(
                "the database schema is not current: run `cds-service db upgrade`", file=sys.stderr
            )
            return 1
        report = store.report(args.since)
    except StoreUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    elif not report.rules:
        print("No cards issued" + (f" since {args.since.isoformat()}." if args.since else "."))
    else:
        Console().print(report.table())
    return 0


def cmd_knowledge_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cds_service.export import (
        KnowledgeExportError,
        export_knowledge,
        services_from_declarations,
    )
    from cds_service.knowledge.prefetch_sets import expand_code_set
    from cds_service.services import ServiceRegistry

    try:
        services = ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)
        summary = export_knowledge(
            Path(args.directory),
            services_from_declarations(services.declarations.values()),
            canonical_base=args.canonical_base,
        )
    except ConfigurationError as exc:
        print(f"knowledge export failed: {exc.message}", file=sys.stderr)
        return 2
    except KnowledgeExportError as exc:
        print(f"knowledge export failed: {exc}", file=sys.stderr)
        return 1
    print(summary.text())
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
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(func=cmd_serve)

    cli_fixtures.add_commands(sub)  # evaluate, fixtures new|list

    db = sub.add_parser("db", help="feedback store database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser(
        "upgrade", help="apply schema migrations (alembic upgrade head)"
    ).set_defaults(func=cmd_db_upgrade)

    report = sub.add_parser("feedback-report", help="acceptance and override rates per rule")
    report.add_argument("--since", type=_since, help="only cards issued since this ISO date")
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.set_defaults(func=cmd_feedback_report)

    from cds_service.export import DEFAULT_CANONICAL_BASE

    knowledge = sub.add_parser("knowledge", help="clinical knowledge as FHIR R4 artifacts")
    knowledge_sub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    export = knowledge_sub.add_parser(
        "export", help="write PlanDefinitions, ActivityDefinitions, CodeSystems, ValueSets, Library"
    )
    export.add_argument("directory", help="output directory (created if missing)")
    export.add_argument(
        "--canonical-base",
        default=DEFAULT_CANONICAL_BASE,
        help=f"canonical URL base of the artifacts (default {DEFAULT_CANONICAL_BASE})",
    )
    export.set_defaults(func=cmd_knowledge_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
