"""Load and check a mapping file, reporting every problem with its file and line.

Raises :class:`MappingError` whose message lists each problem as ``file:line:column:
message``, so an admin can go straight to the line. Never a traceback.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from connector.errors import ConfigurationError
from mappings.back_rules import way_back_problems
from mappings.models import Mapping


class MappingLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as booleans,
    which would turn the key ``on:`` (``on: create``) and a picklist value ``No`` into
    True/False behind an admin's back."""


MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class MappingError(ConfigurationError):
    """The mapping file is invalid; ``problems`` lists each as (line, column, text)."""

    def __init__(self, path: Path, problems: list[tuple[int, int, str]]):
        self.path = path
        self.problems = problems
        lines = [f"{path}:{line}:{col}: {text}" for line, col, text in problems]
        super().__init__(
            message="invalid mapping file:\n  " + "\n  ".join(lines), code="MAPPING"
        )


def _node_at(root: yaml.Node, loc: tuple) -> yaml.Node:
    """The deepest YAML node along a pydantic error location (the key node itself for
    an error about a key: an unknown key, or ``[key]`` from a key's validator)."""
    node, key = root, None
    for part in loc:
        if part == "[key]" and key is not None:
            return key
        nxt = None
        if isinstance(node, yaml.MappingNode):
            key, nxt = next(((k, v) for k, v in node.value if k.value == str(part)),
                            (None, None))
            if nxt is None:  # an unknown key: point at the key itself
                nxt = key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            nxt = node.value[part] if part < len(node.value) else None
        if nxt is None:
            break
        node = nxt
    return node


def locate(text: str, loc: tuple) -> tuple[int, int]:
    """(line, column), 1-based, of the key path ``loc`` in mapping ``text``.

    For checks made after parsing (e.g. against the org), so their messages point at the
    line too. An unknown path gives the deepest existing node's position.
    """
    root = yaml.compose(text, Loader=MappingLoader)
    return _position(_node_at(root, loc)) if root is not None else (1, 1)


def _models_at(loc: tuple) -> list[type[BaseModel]]:
    """The models that may hold the keys at ``loc`` in a mapping file (several where the
    grammar allows alternatives), found by walking the models' field annotations."""
    current: list[Any] = [Mapping]
    for part in loc:
        following: list[Any] = []
        for kind in _expand(current):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                for name, info in kind.model_fields.items():
                    if part in (name, info.alias):
                        following.append(info.annotation)
            elif get_origin(kind) in (dict, list, tuple):
                following.append(get_args(kind)[-1])
        current = following
    return [kind for kind in _expand(current)
            if isinstance(kind, type) and issubclass(kind, BaseModel)]


def _expand(kinds: list[Any]) -> list[Any]:
    """``kinds`` with unions, ``Optional`` and ``Annotated`` opened up."""
    out: list[Any] = []
    for kind in kinds:
        if get_origin(kind) is Annotated:
            out.extend(_expand([get_args(kind)[0]]))
        elif get_origin(kind) in (Union, UnionType):
            out.extend(_expand(list(get_args(kind))))
        else:
            out.append(kind)
    return out


def _did_you_mean(loc: tuple) -> str:
    """" — did you mean 'value'?" for a mistyped key, from the keys its place allows."""
    allowed = {info.alias or name for model in _models_at(loc[:-1])
               for name, info in model.model_fields.items()}
    close = difflib.get_close_matches(str(loc[-1]), sorted(allowed), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"]
                   if not str(p).startswith("function-") and p != "[key]")
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key '{err['loc'][-1]}'" + _did_you_mean(tuple(
            p for p in err["loc"] if not str(p).startswith("function-")))
    elif err["type"] == "missing":
        msg = f"missing key '{err['loc'][-1]}'"
    return f"{loc}: {msg}" if loc else msg


def parse_mapping(text: str, path: Path) -> Mapping:
    """Parse mapping text; ``path`` is only used in messages.

    Raises:
        MappingError: with every problem found, each with its line and column.
    """
    try:
        root = yaml.compose(text, Loader=MappingLoader)
        data = yaml.load(text, Loader=MappingLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        why = getattr(exc, "problem", None) or str(exc)
        raise MappingError(path, [(line, col, f"not valid YAML: {why}")]) from None
    if not isinstance(data, dict) or root is None:
        raise MappingError(path, [(1, 1, "the file must be a YAML mapping with 'version: 1'")])
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
            problems.append((*_position(_node_at(root, loc)), _describe(err)))
        raise MappingError(path, sorted(set(problems))) from None
    crossed = [(loc, text) for account, effective in mapping.account_mappings().items()
               for loc, text in account_problems(mapping, account,
                                                 cross_problems(effective))]
    if crossed:
        raise MappingError(path, sorted(set(
            (*_position(_node_at(root, loc)), text) for loc, text in crossed)))
    return mapping


def cross_problems(mapping: Mapping) -> list[tuple[tuple[str | int, ...], str]]:
    """What only the whole file shows, as (key path, message): sections that name each
    other wrongly, and the way back's objects without fields or followers."""
    return mapping.reference_problems() + way_back_problems(mapping)


def account_path(mapping: Mapping, account: str | None,
                 loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Where key path ``loc`` of ``account``'s effective mapping is in the file: under
    ``accounts.<id>`` when that account's section replaces the top-level one."""
    if account is not None and loc and loc[0] in mapping.accounts[account].model_fields_set:
        return ("accounts", account, *loc)
    return loc


def account_problems(mapping: Mapping, account: str | None,
                     problems: list[tuple[tuple[str | int, ...], str]],
                     ) -> list[tuple[tuple[str | int, ...], str]]:
    """``account``'s effective-mapping problems, placed in the file (:func:`account_path`)
    and prefixed ``accounts.<id>:`` (a shared section can be wrong for one account
    only). The problems the top-level mapping has too are left to it, said once."""
    if account is None:
        return problems
    shared = set(cross_problems(mapping))
    return [(account_path(mapping, account, loc), f"accounts.{account}: {text}")
            for loc, text in problems if (loc, text) not in shared]


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def load_mapping(path: Path | str) -> Mapping:
    """Read and parse the mapping file at ``path``.

    Raises:
        MappingError: the file cannot be read or is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(path, [(1, 1, f"cannot read the file: {exc.strerror}")]) from None
    return parse_mapping(text, path)
