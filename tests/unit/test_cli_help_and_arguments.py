"""What a newcomer meets first: every command's --help reads as plain text, and a
malformed argument is a usage error naming the expected form."""

from __future__ import annotations

import argparse

import pytest

from connector.cli.main import build_parser, main


def _parsers(parser: argparse.ArgumentParser, name: str = "connector"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from _parsers(child, f"{name} {child_name}")


HELP = list(_parsers(build_parser()))


@pytest.mark.parametrize(("name", "parser"), HELP, ids=[name for name, _ in HELP])
def test_help_shows_no_restructuredtext_markup(name, parser):
    assert "``" not in parser.format_help()


def test_every_command_is_checked():
    names = {name for name, _ in HELP}
    assert {"connector status", "connector messages send", "connector stop"} <= names


@pytest.mark.parametrize("value", ["not-an-id", "00Q5g00000AbCdE", "701short"])
def test_campaigns_stats_names_the_campaign_id_form(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["campaigns", "stats", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "is not a Campaign Id" in err and "701" in err and "Traceback" not in err
