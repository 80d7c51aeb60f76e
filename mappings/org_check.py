"""Check a parsed mapping against the org's describe: every problem, each with its line.

Phase 2 of validation (phase 1 is the grammar, ``mappings/loader.py``). Pure: the caller
passes ``describe(sobject) -> dict | None`` (the JSON of ``GET sobjects/{name}/describe``,
None for an object the org lacks), so the CLI can use the gateway and tests the sandbox.

Checks: objects and fields exist (spelled as the org spells them), written fields are
writable and of a type that takes the rule's value, constants fit picklists and lengths,
required fields are filled on create, upsert keys are unique case-sensitive external ids,
links point at the right object, match fields can be filtered; matching and campaign
policies in ``mappings/policy_checks.py``. ``check_offline``: what needs no org. With an
``accounts:`` section, each account's effective mapping is checked too (lines point into
its section where it replaces a top-level one).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from mappings.field_checks import Checker, Describe, Problem
from mappings.field_types import WELL_KNOWN_REQUIRED
from mappings.loader import account_path
from mappings.models import Mapping
from mappings.policy_checks import check_policies, check_scene_sources

__all__ = ["Problem", "check_against_org", "check_offline"]


def check_against_org(mapping: Mapping, text: str, path: Path | str, describe: Describe,
                      objects: Iterable[str] | None = None) -> list[Problem]:
    """Every problem of ``mapping`` (parsed from ``text``) against the org, sorted by line.

    ``objects``: the org's object names, for "did you mean" on an unknown object; without
    it, those of :data:`KNOWN_OBJECTS` and of the mapping that the org describes.
    Never raises for what the describe says; ``describe`` itself may raise.
    """
    describe = functools.cache(describe)  # one describe per object, whatever the accounts
    return sorted({problem for checker in _checkers(mapping, text, path, describe, objects)
                   for problem in _run(checker)})


def check_offline(mapping: Mapping, text: str, path: Path | str) -> list[Problem]:
    """The checks that need no org, sorted by line: the fields every org requires when
    the ``create:`` object is created (Lead: LastName, Company; Contact: LastName) are
    filled, and no rule reads ``campaign.id`` where a field lookup leaves it blank."""
    for checker in (checkers := _checkers(mapping, text, path, WELL_KNOWN_REQUIRED.get, None)):
        checker.check_create_required()
        check_scene_sources(checker)
    return sorted({problem for checker in checkers for problem in checker.problems})


def _run(checker: Checker) -> list[Problem]:
    """Every check of one mapping: its objects and fields, then its policies."""
    checker.run()
    check_policies(checker)
    return checker.problems


def _checkers(mapping: Mapping, text: str, path: Path | str, describe: Describe,
              objects: Iterable[str] | None) -> list[Checker]:
    """A checker per mapping in use (the top-level one, each account's effective one);
    a problem shared by several is then the same Problem, reported once."""
    return [Checker(effective, text, Path(path), describe, objects,
                     where=functools.partial(account_path, mapping, account))
            for account, effective in mapping.account_mappings().items()]
