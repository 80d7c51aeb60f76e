"""The Salesforce half of the preflight: login, API version, the mapping against the
org, object permissions, the daily API allowance, the assignment and duplicate rules on
the objects the bridge creates, the Outbound Message endpoint.

Every check turns the bridge's errors into a finding; none writes a record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from connector.doctor.report import Check
from connector.errors import BridgeError
from connector.salesforce import SalesforceGateway
from connector.salesforce.auth import jwt_audience
from connector.salesforce.outbound_probe import probe_outbound
from connector.settings import Settings
from mappings.models import Mapping
from mappings.org_check import check_against_org
from mappings.written import written_objects

SECTION = "Salesforce"
OLDEST_VERSION = (46, 0)  # sObject Collections upsert arrived in API version 46.0
OUTBOUND_PATH = "/salesforce/outbound"
_SETTINGS_FIX = ("Permission Sets > WeChat Bridge (or the integration user's profile) > "
                 "Object Settings")


def _check(subject: str, status: str, detail: str) -> Check:
    return Check(SECTION, subject, status, detail)  # type: ignore[arg-type]


def login(gateway: SalesforceGateway, settings: Settings) -> Check:
    """The login, naming the flow and (JWT) the audience it used."""
    if settings.SALESFORCE_PRIVATE_KEY is not None:
        given = " (SALESFORCE_JWT_AUDIENCE)" if settings.SALESFORCE_JWT_AUDIENCE else ""
        how = (f"JWT bearer flow as {settings.SALESFORCE_USERNAME}, audience "
               f"{jwt_audience(settings.SALESFORCE_LOGIN_URL, settings.SALESFORCE_JWT_AUDIENCE)}"
               f"{given}")
    else:
        how = "client credentials flow"
    try:
        identity = gateway.identity()
    except BridgeError as error:
        return _check("login", "fail", f"{how} at {settings.SALESFORCE_LOGIN_URL}:\n"
                      f"{error.message}")
    return _check("login", "ok", f"{how} at {settings.SALESFORCE_LOGIN_URL}; org "
                  f"{identity.org_id}, user {identity.user_id}")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def api_version(gateway: SalesforceGateway, settings: Settings) -> Check:
    wanted = settings.SALESFORCE_API_VERSION
    served = gateway.versions()
    newest = max(served, key=_version, default=None)
    if _version(wanted) < OLDEST_VERSION:
        return _check("API version", "fail", f"SALESFORCE_API_VERSION={wanted} is older "
                      "than 46.0, which sObject Collections upsert needs: set it to "
                      f"{newest or 'a newer version'}")
    if wanted not in served:
        return _check("API version", "fail", f"the org does not serve API version {wanted} "
                      f"(it serves {served[0] if served else '?'} to {newest}): set "
                      f"SALESFORCE_API_VERSION={newest}")
    return _check("API version", "ok", f"{wanted} (the org serves up to {newest})")


def mapping_fits(gateway: SalesforceGateway, mapping: Mapping, path: Path) -> Check:
    """The mapping validated against the org's describes, as ``mappings validate
    --against-org`` does; the errors listed with their lines."""
    problems = check_against_org(mapping, path.read_text(encoding="utf-8"), path,
                                 gateway.describe_if_exists)
    errors = [p for p in problems if p.severity == "error"]
    warnings = len(problems) - len(errors)
    if errors:
        shown = "\n".join(str(p) for p in errors[:10])
        more = f"\n… and {len(errors) - 10} more" if len(errors) > 10 else ""
        return _check("mapping", "fail", f"{path}: {len(errors)} error(s) against the org "
                      f"(all of them: connector mappings validate --against-org)\n{shown}{more}")
    note = (f", {warnings} warning(s) (connector mappings validate --against-org)"
            if warnings else "")
    return _check("mapping", "warn" if warnings else "ok", f"{path} fits the org{note}")


def permissions(gateway: SalesforceGateway, mapping: Mapping) -> Check:
    """Create/edit on each object the mapping writes, from the describes (which show the
    integration user's own object permissions), without writing."""
    missing, granted = [], []
    for obj, operations in sorted(written_objects(mapping).items()):
        info = gateway.describe_if_exists(obj)
        if info is None:
            continue  # the mapping check names the unknown object
        lacking = [op for op in sorted(operations) if not info.get(f"{op}able")]
        if lacking:
            verbs = " and ".join("Create" if op == "create" else "Edit" for op in lacking)
            missing.append(f"{obj}: grant {verbs} ({_SETTINGS_FIX})")
        else:
            granted.append(f"{obj} ({'+'.join(sorted(operations))})")
    if missing:
        return _check("permissions", "fail", "the integration user cannot write what the "
                      "mapping writes:\n" + "\n".join(missing))
    return _check("permissions", "ok", ", ".join(granted) or "the mapping writes nothing")


def api_usage(gateway: SalesforceGateway, settings: Settings) -> Check:
    """The org's daily API requests, used and allowed (``GET /limits``), against the
    share past which the bridge holds non-urgent work (SALESFORCE_API_ALLOCATION)."""
    usage = gateway.api_usage()
    allocation = settings.SALESFORCE_API_ALLOCATION
    detail = (f"{usage.used:,} of {usage.limit:,} used in the last 24 hours "
              f"({usage.share:.0%})")
    if usage.share >= allocation:
        return _check("daily API requests", "warn", detail + f"; past {allocation:.0%} "
                      "(SALESFORCE_API_ALLOCATION) the bridge holds polls and backfills and "
                      "keeps only inbound events running: raise the org's allowance or find "
                      "the other heavy client (Setup > System Overview, API usage by client)")
    return _check("daily API requests", "ok", detail)


ASSIGNMENT_RULES = "SELECT Name FROM AssignmentRule WHERE SobjectType = {obj} AND Active = true"
DUPLICATE_RULES = ("SELECT DeveloperName FROM DuplicateRule WHERE SobjectType = {obj} "
                   "AND IsActive = true")


def org_rules(gateway: SalesforceGateway, mapping: Mapping) -> list[Check]:
    """The active assignment and duplicate rules on the objects the bridge creates, and
    what they will do to its writes under the mapping's ``salesforce_rules:``."""
    created = sorted({m.create for m in mapping.account_mappings().values() if m.create})
    rules = mapping.salesforce_rules
    checks = []
    for obj in created:
        assignment = [r["Name"] for r in gateway.query(ASSIGNMENT_RULES, obj=obj)]
        if not assignment:
            checks.append(_check(f"{obj} assignment rule", "ok", "none active: the bridge's "
                                 f"{obj}s stay with the integration user"))
        elif rules.assignment_rules == "on_create":
            checks.append(_check(f"{obj} assignment rule", "ok", f"'{assignment[0]}' is "
                                 f"active: it assigns the {obj}s the bridge creates "
                                 "(salesforce_rules.assignment_rules: on_create), never on "
                                 "its updates"))
        else:
            checks.append(_check(f"{obj} assignment rule", "ok", f"'{assignment[0]}' is "
                                 "active; the bridge never runs it (salesforce_rules."
                                 f"assignment_rules: never): its {obj}s stay with the "
                                 "integration user"))
        duplicate = [r["DeveloperName"] for r in gateway.query(DUPLICATE_RULES, obj=obj)]
        if not duplicate:
            checks.append(_check(f"{obj} duplicate rules", "ok", "none active"))
        else:
            names = ", ".join(duplicate)
            saved = ("the bridge saves past rules that only alert (salesforce_rules."
                     "allow_duplicates: true); a Block rule still refuses"
                     if rules.allow_duplicates else
                     "a follower matching an existing record is refused (DUPLICATES_DETECTED, "
                     "kept with the rule and the match); set salesforce_rules."
                     "allow_duplicates: true to save past rules that only alert")
            checks.append(_check(f"{obj} duplicate rules", "warn", f"active: {names}; {saved}"))
    return checks


def outbound_endpoint(public_url: str | None, settings: Settings) -> Check:
    """The URL to set on the Outbound Message (its secret shown as the setting's name),
    and whether it answers from here."""
    if not public_url:
        return _check("Outbound Message endpoint", "skip", "pass --url https://<your app> "
                      "to check the endpoint Salesforce posts to")
    secret = settings.SALESFORCE_OUTBOUND_SECRET
    shown = public_url.rstrip("/") + OUTBOUND_PATH + "/<SALESFORCE_OUTBOUND_SECRET>"
    if secret is None:
        return _check("Outbound Message endpoint", "fail", f"{shown}: SALESFORCE_OUTBOUND_"
                      "SECRET is not set, so every Outbound Message is refused; set it (at "
                      "least 32 letters, digits, - or _) and end the endpoint URL with it")
    answer = probe_outbound(f"{public_url.rstrip('/')}{OUTBOUND_PATH}/"
                            f"{secret.get_secret_value()}")
    return _check("Outbound Message endpoint", "ok" if answer.ok else "fail",
                  f"{shown}: {answer.detail}" + ("" if answer.ok else "\nSet this URL as the "
                  "Outbound Message's Endpoint URL once the web process answers there"))


def check_org(gateway: SalesforceGateway, settings: Settings, mapping: Mapping | None,
              mapping_path: Path, public_url: str | None) -> list[Check]:
    """Every Salesforce check, in the order an admin would fix them; after a failed
    login the checks that need the org are skipped, not failed again."""
    checks = [login(gateway, settings)]
    if checks[0].status == "fail":
        return checks + [_check("the rest", "skip", "needs a login"),
                         outbound_endpoint(public_url, settings)]
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("API version", lambda: api_version(gateway, settings)),
    ]
    if mapping is not None:
        steps += [("mapping", lambda: mapping_fits(gateway, mapping, mapping_path)),
                  ("permissions", lambda: permissions(gateway, mapping))]
    steps.append(("daily API requests", lambda: api_usage(gateway, settings)))
    if mapping is not None:
        steps.append(("rules", lambda: org_rules(gateway, mapping)))
    for subject, step in steps:
        try:
            found = step()
        except BridgeError as error:  # the org did not answer this one: say so, go on
            found = _check(subject, "fail", f"could not check: {error.message}")
        checks += found if isinstance(found, list) else [found]
    checks.append(outbound_endpoint(public_url, settings))
    return checks
