"""docs/clinical-coverage.md stays true: every rule appears, every named test and fixture exists."""

from __future__ import annotations

import re
from pathlib import Path

from cds_service.engine import registry

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "clinical-coverage.md").read_text(encoding="utf-8")


def test_every_registered_rule_is_in_the_coverage_table() -> None:
    missing = [rule_id for rule_id in registry() if not re.search(rf"\b{rule_id}\b", DOC)]
    assert not missing


def test_every_referenced_test_and_fixture_exists() -> None:
    current: str | None = None
    broken: list[str] = []
    for ref in re.findall(r"`([^`]+)`", DOC):
        if ref.startswith("fixtures/") and ref != "fixtures/":
            if not (ROOT / ref / "expect.json").is_file():
                broken.append(ref)
            continue
        match = re.match(r"(test_\w+\.py)?::(test_\w+)$", ref)
        if match is None:
            continue
        current = match.group(1) or current
        assert current is not None, ref
        source = (ROOT / "tests" / "clinical" / current).read_text(encoding="utf-8")
        if f"def {match.group(2)}(" not in source:
            broken.append(f"{current}::{match.group(2)}")
    assert not broken
