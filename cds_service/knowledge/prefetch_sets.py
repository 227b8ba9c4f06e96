"""Code lists that ``hooks/*.toml`` prefetch templates name as ``${codes:NAME}``.

Expanded once at start-up into a comma-separated token list (``system|code,...``), so an
EHR is asked only for the codes the rules read. The lists are derived from the value sets
in :mod:`cds_service.knowledge.value_sets`; nothing is listed here by hand.
"""

from __future__ import annotations

from cds_service.knowledge.value_sets import PREFETCH_CODE_SETS


def code_set_names() -> list[str]:
    return sorted(PREFETCH_CODE_SETS)


def expand_code_set(name: str) -> str:
    """``system|code`` tokens joined by commas (FHIR token search OR semantics)."""
    from cds_service.errors import ConfigurationError

    value_set = PREFETCH_CODE_SETS.get(name)
    if value_set is None or not value_set.concepts:
        raise ConfigurationError(f"unknown code set {name!r} in a prefetch template")
    return ",".join(f"{c.system}|{c.code}" for c in value_set.concepts)
