"""The integrator docs stay true: README's two commands and settings table, the services table
in docs/integration.md (generated from hooks/*.toml), and links that resolve.

Regenerate the services block after changing hooks/: ``python -m tests.integrator.test_docs``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from tests.conftest import ROOT

README = ROOT / "README.md"
INTEGRATION = ROOT / "docs" / "integration.md"
PRODUCTION = ROOT / "docs" / "production.md"
BEGIN, END = "<!-- services:begin (generated) -->", "<!-- services:end -->"
CONTEXT = {
    "patient-view": "`userId`, `patientId`; `encounterId` optional",
    "encounter-start": "`userId`, `patientId`, `encounterId`",
    "order-select": "`userId`, `patientId`, `draftOrders` (Bundle), `selections`; "
    "`encounterId` optional",
    "order-sign": "`userId`, `patientId`, `draftOrders` (Bundle); `encounterId` optional",
}


def render_services(hooks_dir: Path) -> str:
    """The services section of docs/integration.md, from the declarations themselves."""
    registry = ServiceRegistry.from_directory(hooks_dir, expand_code_set)
    lines = [BEGIN, ""]
    for (service_id, hook), declaration in sorted(registry.declarations.items()):
        raw = tomllib.loads(declaration.source.read_text(encoding="utf-8"))["service"]
        lines += [
            f"### `{service_id}` · `{hook}`",
            "",
            f"{declaration.title}. Declared in `hooks/{declaration.source.name}`.",
            "",
            f"Context: {CONTEXT[hook]}.",
            "",
            "| Prefetch key | Query (as declared) | Codes asked for |",
            "|---|---|---|",
        ]
        for key, template in raw.get("prefetch", {}).items():
            names = re.findall(r"\$\{codes:([a-z0-9\-_]+)\}", template)
            counts = ", ".join(f"`{n}`: {len(expand_code_set(n).split(','))}" for n in names)
            lines.append(f"| `{key}` | `{template}` | {counts or '—'} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def _block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "```sh"
    assert lines[1].startswith("make serve ") and "http://127.0.0.1:8080" in lines[1]
    assert lines[2].startswith("make test ")
    assert lines[3] == "```"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\w+) \| `([A-Z_]+)` \|", readme, re.M)
    documented = dict(rows)
    expected = {}
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        expected[name] = alias if isinstance(alias, str) else f"CDS_{name.upper()}"
    assert documented == expected


def test_integration_guide_services_match_the_hooks_folder() -> None:
    generated = render_services(Settings().hooks_dir)
    current = _block(INTEGRATION.read_text(encoding="utf-8"))
    assert current == generated, "run: python -m tests.integrator.test_docs"


def _links(doc: Path) -> list[Path]:
    text = doc.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs/|\.\./|\./)?[\w\-./]+\.(?:md|png|yaml))\)", text)
    return [(doc.parent / target).resolve() for target in targets]


def test_tour_fixtures_and_doc_links_exist() -> None:
    for doc in (README, INTEGRATION, PRODUCTION):
        text = doc.read_text(encoding="utf-8")
        for case in re.findall(r"fixtures/([a-z0-9][a-z0-9\-]+)", text):
            if case != "my-case":
                assert (ROOT / "fixtures" / case / "request.json").is_file(), (doc.name, case)
        for target in _links(doc):
            assert target.is_file(), (doc.name, target)


if __name__ == "__main__":
    text = INTEGRATION.read_text(encoding="utf-8")
    INTEGRATION.write_text(text.replace(_block(text), render_services(Settings().hooks_dir)))
    print(f"updated {INTEGRATION}")
