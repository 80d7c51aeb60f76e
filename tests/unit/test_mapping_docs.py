"""The admin guide stays true: its example mappings load and pass the check against the
org, and the reference names every key, source and transform of the grammar."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from mappings.loader import load_mapping
from mappings.models import SOURCES, Mapping
from mappings.org_check import check_against_org
from mappings.transforms import TRANSFORMS
from sandbox.salesforce import SalesforceSandbox

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.yaml"))
REFERENCE = (DOCS / "mapping-reference.md").read_text(encoding="utf-8")
SETUPS = (DOCS / "mapping-setups.md").read_text(encoding="utf-8")

ORG = SalesforceSandbox(client_id="3MVG9docs", username="docs@bridge.sandbox",
                        public_key_pem="unused: describe needs no login")


describe = ORG.describe  # the describe JSON the sandbox serves, without HTTP


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (through dict, list, Optional, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += models_in(arg)
    return found


def grammar_keys() -> set[str]:
    """Every key name of the mapping file: the fields of every model reachable from
    ``Mapping``."""
    keys: set[str] = set()
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Mapping]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
            todo += models_in(info.annotation)
    return keys


def test_there_are_three_examples():
    assert [p.name for p in EXAMPLES] == ["b2b-match-contacts.yaml",
                                          "b2c-every-follower-a-lead.yaml",
                                          "multi-account-brand.yaml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_and_passes_the_org_check(path):
    mapping = load_mapping(path)  # raises MappingError, listing every problem
    problems = check_against_org(mapping, path.read_text(encoding="utf-8"), path, describe)
    assert [str(p) for p in problems if p.severity == "error"] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_setups_page_links_each_example(path):
    assert f"examples/{path.name}" in SETUPS


def test_the_walk_finds_the_nested_sections():
    # guards the walk itself: keys of nested models (field rules, match rules) are found
    assert {"version", "external_id", "scene_prefix", "person", "template", "on"} <= (
        grammar_keys())


def in_reference(word: str) -> bool:
    """``word`` inside a code span (`on: always`, `truncate(80)`), as a YAML key
    (``word:``) in an example, or as a heading."""
    w = re.escape(word)
    return re.search(rf"`[^`\n]*\b{w}\b[^`\n]*`|^\s*-?\s*{w}:|^#+ {w}$", REFERENCE,
                     re.MULTILINE) is not None


@pytest.mark.parametrize("key", sorted(grammar_keys()))
def test_reference_names_every_key(key):
    assert in_reference(key), f"docs/mapping-reference.md does not mention the key {key!r}"


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_reference_names_every_transform(name):
    assert in_reference(name), f"docs/mapping-reference.md does not mention {name!r}"


@pytest.mark.parametrize("source", sorted(f"{root}.{name}" for root, names in SOURCES.items()
                                          for name in names))
def test_reference_names_every_source(source):
    assert f"`{source}`" in REFERENCE, f"docs/mapping-reference.md does not list {source!r}"

