"""``connector mappings``: check a mapping file (offline or against the org), preview the
writes one push would cause, and print the file's JSON Schema for editors."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0: valid (warnings allowed); 1: the mapping has errors; 2 (via ``main``): the
    settings needed for ``--against-org`` are missing or the login fails."""
    from connector.settings import DEFAULT_MAPPING
    from mappings.loader import MappingError, load_mapping

    path = Path(args.file) if args.file else DEFAULT_MAPPING
    try:
        mapping = load_mapping(path)
    except MappingError as error:
        for line, column, text in error.problems:
            print(f"{path}:{line}:{column}: error: {text}")
        return 1
    if not args.against_org:
        from mappings.org_check import check_offline

        problems = check_offline(mapping, path.read_text(encoding="utf-8"), path)
        for problem in problems:
            print(problem)
        print(f"{path}: {len(problems)} error(s)" if problems else f"{path}: valid")
        return 1 if problems else 0

    from connector.errors import BridgeError, ConfigurationError
    from connector.salesforce import SalesforceGateway
    from connector.settings import SalesforceSettings, load_settings
    from mappings.org_check import check_against_org

    # only the Salesforce config vars: an admin checking a mapping needs no WeChat ones
    gateway = SalesforceGateway(load_settings(SalesforceSettings))

    try:
        # an object the org lacks is reported as a problem, not raised
        problems = check_against_org(mapping, path.read_text(encoding="utf-8"), path,
                                     gateway.describe_if_exists)
    except ConfigurationError:
        raise
    except BridgeError as error:  # the org did not answer: nothing was checked
        print(f"connector: cannot read the org's describe: {error}", file=sys.stderr)
        return 2
    finally:
        gateway.close()
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{path}: {errors} error(s), {warnings} warning(s) against the org" if problems
          else f"{path}: valid against the org")
    return 1 if errors else 0


def cmd_preview(args: argparse.Namespace) -> int:
    from connector.inbound.preview import preview_push
    from connector.settings import get_settings, load_settings
    from jobs.runtime import build_context

    settings = load_settings(MAPPING_FILE=args.mapping) if args.mapping else get_settings()
    try:
        xml = Path(args.event).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"connector: cannot read {args.event}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        result = preview_push(build_context(settings), xml)
    except ValueError as exc:
        print(f"connector: {args.event}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from mappings.models import Mapping

    schema = Mapping.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "WeChat-Salesforce bridge mapping file"
    print(json.dumps(schema, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mappings validate|preview|schema`` to the ``connector`` command."""
    mappings = sub.add_parser("mappings", help="mapping file tools")
    msub = mappings.add_subparsers(dest="mappings_command", required=True)
    validate = msub.add_parser(
        "validate", help="check a mapping file; exit 1 when it has errors",
        description="List every problem as file:line:col: error|warning: text. Exit 0 "
        "when there is no error (warnings allowed), 1 when there is one, 2 when the "
        "settings needed for --against-org are missing or wrong.")
    validate.add_argument("file", nargs="?", help="the mapping file (default: the shipped one)")
    validate.add_argument(
        "--against-org", action="store_true",
        help="also check objects, fields, types, picklists and required fields against "
        "the org's describe (logs in with the SALESFORCE_* config vars)")
    validate.set_defaults(func=cmd_validate)
    preview = msub.add_parser(
        "preview", help="the exact Salesforce writes one push would cause (writes nothing)")
    preview.add_argument("--event", required=True, help="a push's XML (plain, as decrypted)")
    preview.add_argument("--mapping", help="the mapping file (default: MAPPING_FILE)")
    preview.set_defaults(func=cmd_preview)
    msub.add_parser("schema", help="JSON Schema of the mapping file, for editors").set_defaults(
        func=cmd_schema)
