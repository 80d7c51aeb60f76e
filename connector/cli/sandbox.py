"""``connector sandbox``: both emulators over HTTPS, for a bridge (and a person) to talk to.

The emulators are the optional ``sandbox`` extra (``pip install
'wechat-salesforce-bridge[sandbox]'``; ``make`` installs it): production needs none of
it, so they are imported when a command that needs them runs, and a missing extra is a
message that says how to install it, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from connector.errors import ConfigurationError

INSTALL = ("the emulators are not installed: install the sandbox extra (pip install "
           "'wechat-salesforce-bridge[sandbox]', or `make demo` in the repository)")


def require_sandbox() -> ModuleType:
    """``sandbox.run``, the emulators' entry point.

    Raises:
        ConfigurationError: the sandbox extra is not installed (the message says how).
    """
    try:
        import sandbox.run  # the optional extra: see the module docstring
    except ImportError as exc:
        raise ConfigurationError(f"{INSTALL}; missing: {exc.name}", code="NO_SANDBOX") from None
    return sandbox.run


def cmd_sandbox(args: argparse.Namespace) -> int:
    from connector.embedded_redis import state_dir

    start_sandbox = require_sandbox().start_sandbox
    # Its certificates under the state folder (var/sandbox/), made afresh by each run,
    # rather than a temporary folder left behind.
    directory = state_dir() / "sandbox"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    box = start_sandbox(directory, followers=args.followers, seed=args.seed, host=args.host,
                        salesforce_port=args.salesforce_port, wechat_port=args.wechat_port,
                        accounts=args.accounts, org_kind=args.org_kind)
    for name in ("Spring poster", "Product label"):
        campaign_id = box.salesforce.seed("Campaign", Name=name, IsActive=True)
        print(f"campaign {name!r}: {campaign_id}  scene sfc_{campaign_id}")
    if args.env_file:
        box.write_env(Path(args.env_file))
        if args.callback_url:  # the bridge listens where the sandbox delivers
            port = urlsplit(args.callback_url).port or 80
            with open(args.env_file, "a", encoding="utf-8") as env_file:
                env_file.write(f"PORT={port}\n")
        print(f"config vars written to {args.env_file} (REDIS_URL not included)")
    if args.callback_url:  # people's acts and job-finish reports go to the bridge
        from sandbox.wechat import CallbackSender

        env = box.env
        sender = CallbackSender(args.callback_url, token=env["WECHAT_TOKEN"],
                                app_id=env["WECHAT_APP_ID"],
                                original_id=env["WECHAT_ORIGINAL_ID"],
                                encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"])
        box.wechat.callback = sender
        box.wechat.outbox.notify = sender.deliver
        print(f"pushes delivered to {args.callback_url} (POST /__sandbox__/wechat/acts)")
    print(f"Salesforce sandbox: {box.salesforce_url}")
    print(f"WeChat sandbox:     {box.wechat_url}")
    for server in box.servers[2:]:
        print(f"WeChat sandbox:     {server.url} (WECHAT_ACCOUNTS)")
    print("serving until killed (Ctrl-C)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    box.stop()
    return 0


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=VALUE`` lines ``connector sandbox --env-file`` writes (a value may be in
    single quotes), as a dict.

    Raises:
        ConfigurationError: the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"--env-file {path}: {error.strerror}; write it with "
                                 "`connector sandbox --env-file PATH` (make sandbox)",
                                 code="SETTINGS") from None
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def cmd_query(args: argparse.Namespace) -> int:
    """Run one SOQL statement as the bridge's integration user; print the records."""
    import os

    from connector.errors import BridgeError
    from connector.salesforce import SalesforceGateway
    from connector.settings import SalesforceSettings, load_settings

    if args.env_file:
        os.environ.update(read_env_file(Path(args.env_file)))
    gateway = SalesforceGateway(load_settings(SalesforceSettings))
    try:
        # The statement is the user's own, typed at their terminal, as in Salesforce's
        # Developer Console: inserted as written, not built from outside values.
        records = gateway.query("{:literal}", args.soql)
    except BridgeError as error:
        print(f"connector sandbox query: {error}", file=sys.stderr)
        return 1
    finally:
        gateway.close()
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False, default=str))
        return 0
    print(records_table(records))
    return 0


def records_table(records: list[dict]) -> str:
    """``records`` as an aligned text table, a column per field, then their count."""
    if not records:
        return "0 records"
    columns = list(dict.fromkeys(key for record in records for key in record))
    rows = [[_cell(record.get(c)) for c in columns] for record in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines) + f"\n{len(records)} record{'s' if len(records) != 1 else ''}"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # a parent relationship's fields
        return json.dumps({k: v for k, v in value.items() if k != "attributes"},
                          ensure_ascii=False)
    return str(value)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sandbox`` to the ``connector`` command."""
    box = sub.add_parser("sandbox", help="serve the Salesforce and WeChat emulators")
    box.add_argument("--env-file", help="write the config vars for a bridge to this file")
    box.add_argument("--followers", type=int, default=200)
    box.add_argument("--seed", type=int, default=7)
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--salesforce-port", type=int, default=0)
    box.add_argument("--wechat-port", type=int, default=0)
    box.add_argument("--org-kind", choices=("production", "sandbox", "scratch"),
                     default="production", help="the kind of org the Salesforce emulator "
                     "plays: its JWT audience is login.salesforce.com (production) or "
                     "test.salesforce.com (sandbox, scratch)")
    box.add_argument("--callback-url",
                     help="the bridge's /wechat/callback: job-finish reports and the acts "
                     "posted to /__sandbox__/wechat/acts are delivered there, like WeChat")
    actions = box.add_subparsers(dest="sandbox_command", metavar="{query}")
    query = actions.add_parser(
        "query", help="run SOQL against the Salesforce sandbox (or any org the SALESFORCE_* "
        "config vars name) as the bridge's integration user",
        description="Logs in as the bridge does (JWT bearer with SALESFORCE_*) and prints "
        "the records, e.g. connector sandbox query \"SELECT Id, LastName FROM Lead\" "
        "--env-file sandbox.env")
    query.add_argument("soql", help="the SOQL statement, quoted")
    query.add_argument("--env-file", help="read the config vars from this file (as "
                       "written by `connector sandbox --env-file`); default: the environment")
    query.add_argument("--json", action="store_true", help="the records as JSON")
    query.set_defaults(func=cmd_query)
    box.add_argument("--accounts", type=int, default=1,
                     help="Official Accounts to emulate (the others in WECHAT_ACCOUNTS)")
    box.set_defaults(func=cmd_sandbox)
