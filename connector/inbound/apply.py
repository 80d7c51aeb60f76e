"""Apply write plans to Salesforce, many events at a time.

Three steps: find the followers' persons (one query per match rule, more when its values
pass what one query's URL takes: ``SalesforceGateway.query_in``), plan
the writes (pure, :mod:`.writes` — what ``connector mappings preview`` prints),
execute them (sObject Collections requests of 200 records, five to a Composite call,
in rounds: a write that needs the Ids of records another creates runs after it,
:func:`~.writes.rounds`). Every write is
idempotent — upserts by external id, and "already a campaign member" counts as success —
so a retried batch never duplicates anything.

Per-record failures are returned per event key; only failures of a whole call
(network, 5xx, limits) raise, and then the caller retries the whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from connector.errors import BridgeError, FatalError
from connector.ids import short_id
from connector.inbound.calls import Ref, Write
from connector.inbound.conflicts import read_fields
from connector.inbound.members import CampaignFacts, campaign_of
from connector.inbound.persons import Found, Persons, latest_person_plans, resolve_persons
from connector.inbound.statuses import add_statuses
from connector.inbound.writes import plan_writes, rounds
from connector.salesforce import DUPLICATE_VALUE, CollectionWrite, InQuery, SalesforceGateway
from mappings.plan import EventPlan, Lookup

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    """What happened to each event of a batch."""

    errors: dict[str, BridgeError] = field(default_factory=dict)
    persons: dict[str, tuple[str, str]] = field(default_factory=dict)  # openid -> (object, id)
    created: set[str] = field(default_factory=set)  # openids whose person was created
    members: int = 0

    def fail(self, keys: Iterable[str], error: BridgeError) -> None:
        for key in keys:
            self.errors.setdefault(key, error)


def _rows_by_value(rows: list[dict], fld: str,
                   values: Iterable[str]) -> dict[str, list[dict]]:
    """``rows`` (in query order) under the asked value each carries. Salesforce compares
    most text case-insensitively, so a row whose value differs in case from every asked
    value belongs to the values equal to it ignoring case; an exact match comes first."""
    folded: dict[str, list[str]] = {}
    for value in values:
        folded.setdefault(value.casefold(), []).append(value)
    out: dict[str, list[dict]] = {}
    for row in rows:
        got = str(row[fld])
        same = folded.get(got.casefold(), [])
        for value in [got] if got in same else same:
            out.setdefault(value, []).append(row)
    return out


def find_persons(gateway: SalesforceGateway, plans: list[EventPlan]) -> Found:
    """Run the plans' lookups: {(object, field, value): rows, oldest first}.

    Every record carrying a value is read, so ``on_many`` can tell one from several;
    Leads come with IsConverted and ConvertedContactId when a rule follows conversions,
    and rows with the fields their object's conflict policies compare (still one query
    per match rule, cut by ``query_in`` when the values are too long for one URL; the
    rules' queries sent together, ``query_in_many``).
    """
    asked = person_queries(plans)
    return found_persons(asked, gateway.query_in_many([q for _, _, q in asked]))


PersonQuery = tuple[tuple[str, str], set[str], InQuery]  # (object, field), values, query


def person_queries(plans: list[EventPlan]) -> list[PersonQuery]:
    """The queries :func:`find_persons` runs, one per match rule's object and field."""
    person_plans = [p.person for p in latest_person_plans(plans).values()]
    lookups: list[Lookup] = [lk for person in person_plans for lk in person.lookups]
    wanted: dict[tuple[str, str], set[str]] = {}
    converted: set[tuple[str, str]] = set()
    for lookup in lookups:
        wanted.setdefault((lookup.object, lookup.field), set()).add(lookup.value)
        if lookup.follow_converted:
            converted.add((lookup.object, lookup.field))
    compared: dict[str, set[str]] = {}
    for person in person_plans:
        for obj, conflicts in person.conflicts.items():
            compared.setdefault(obj, set()).update(read_fields(conflicts))
    for plan in plans:  # lifecycle rules compare fields of the person
        if plan.person is not None and plan.lifecycle is not None:
            for obj, names in plan.lifecycle.person_fields().items():
                compared.setdefault(obj, set()).update(names)
    asked: list[PersonQuery] = []
    for (obj, fld), values in wanted.items():
        with_conversion = (obj, fld) in converted
        selected = {"id", fld.lower()} | ({n.lower() for n in CONVERSION}
                                          if with_conversion else set())
        extra = sorted(f for f in compared.get(obj, ()) if f.lower() not in selected)
        asked.append(((obj, fld), values, InQuery(
            person_query(len(extra), with_conversion), (fld, *extra, obj, fld), "values",
            {"values": sorted(values)})))
    return asked


def found_persons(asked: list[PersonQuery], results: list[list[dict]]) -> Found:
    """What :func:`person_queries`' queries found, by (object, field, value)."""
    found: Found = {}
    for ((obj, fld), values, _), rows in zip(asked, results, strict=True):
        for value, hits in _rows_by_value(rows, fld, values).items():
            found[(obj, fld, value)] = tuple(hits)
    return found


CONVERSION = ("IsConverted", "ConvertedContactId")
PERSON = ("SELECT Id, {:literal} FROM {:literal} WHERE {:literal} IN {values} "
          "ORDER BY CreatedDate ASC")
PERSON_CONVERTED = ("SELECT Id, {:literal}, IsConverted, ConvertedContactId FROM {:literal} "
                    "WHERE {:literal} IN {values} ORDER BY CreatedDate ASC")


def person_query(extra: int, converted: bool) -> str:
    """The person lookup's template: :data:`PERSON` (or :data:`PERSON_CONVERTED`) with
    ``extra`` more ``{:literal}`` columns after the match field (names validated by the
    mapping's grammar, passed as arguments like the others)."""
    template = PERSON_CONVERTED if converted else PERSON
    return template.replace("{:literal}", "{:literal}" + ", {:literal}" * extra, 1)


CAMPAIGNS_BY_FIELD = "SELECT Id, {:literal} FROM Campaign WHERE {:literal} IN {values}"
MEMBERS = ("SELECT Id, CampaignId, LeadId, ContactId, Status FROM CampaignMember "
           "WHERE CampaignId IN {campaigns} AND (LeadId IN {persons} OR ContactId IN {persons})")
STATUSES = ("SELECT Id, CampaignId, Label, SortOrder FROM CampaignMemberStatus "
            "WHERE CampaignId IN {campaigns}")


def find_campaign_facts(gateway: SalesforceGateway, plans: list[EventPlan],
                        persons: Persons) -> CampaignFacts:
    """The campaign reads a batch needs, one query each and only when a plan needs it:
    Campaigns by scene field, existing members (for a progression), existing statuses
    (to create missing ones)."""
    facts = CampaignFacts()
    scenes: dict[str, set[str]] = {}
    for plan in plans:
        if plan.campaign_lookup is not None:
            scenes.setdefault(plan.campaign_lookup.field, set()).add(plan.campaign_lookup.value)
    for fld, values in scenes.items():
        rows = gateway.query_in(CAMPAIGNS_BY_FIELD, fld, fld, split="values",
                                values=sorted(values))
        for value, hits in _rows_by_value(rows, fld, values).items():
            facts.by_scene[(fld, value)] = hits[0]["Id"]  # the field is unique
    joined = [(plan, campaign) for plan in plans
              if (campaign := campaign_of(plan, facts)) and plan.openid in persons.found]
    campaigns = sorted({c for _, c in joined})
    found = sorted({p[1] for p in persons.found.values() if isinstance(p[1], str)})
    if found and any(plan.progression or plan.member_fields for plan, _ in joined):
        # The batch's campaigns (200 events at most: 5 KB of ids) go in every piece.
        for row in gateway.query_in(MEMBERS, split="persons", campaigns=campaigns,
                                    persons=found):
            person = row["LeadId"] or row["ContactId"]
            facts.members[(short_id(row["CampaignId"]), person)] = (row["Id"], row["Status"])
    if any(plan.create_missing_statuses for plan, _ in joined):
        for row in gateway.query_in(STATUSES, split="campaigns", campaigns=campaigns):
            labels = facts.statuses.setdefault(short_id(row["CampaignId"]), {})
            labels[row["Label"]] = int(row.get("SortOrder") or 0)
    return facts


STAGES = "SELECT {:literal}, {:literal} FROM {:literal} WHERE {:literal} IN {values}"


def find_stages(gateway: SalesforceGateway, plans: list[EventPlan]) -> dict[str, str | None]:
    """The lifecycle stage each follower of ``plans`` has in Salesforce (openid → stage;
    absent: no follower record yet), one query per follower object (more when the
    OpenIDs pass what one query's URL takes), only when the mapping has a
    ``lifecycle:``."""
    asked = stage_queries(plans)
    return found_stages(asked, gateway.query_in_many([q for _, q in asked]))


StageQuery = tuple[str, InQuery]  # the follower object's key field, the query


def stage_queries(plans: list[EventPlan]) -> list[StageQuery]:
    """The queries :func:`find_stages` runs."""
    wanted: dict[tuple[str, str, str], set[str]] = {}
    for plan in plans:
        if plan.lifecycle is not None:
            key = (plan.follower_object, plan.follower_key_field, plan.lifecycle.field)
            wanted.setdefault(key, set()).add(plan.openid)
    return [(key_field, InQuery(STAGES, (key_field, fld, obj, key_field), "values",
                                {"values": sorted(openids)}))
            for (obj, key_field, fld), openids in wanted.items()]


def found_stages(asked: list[StageQuery], results: list[list[dict]]) -> dict[str, str | None]:
    """The stages :func:`stage_queries`' queries read, by OpenID."""
    stages: dict[str, str | None] = {}
    for (key_field, query), rows in zip(asked, results, strict=True):
        fld = query.args[1]
        for row in rows:
            stages[str(row[key_field])] = row.get(fld)
    return stages


def prepare(gateway: SalesforceGateway, plans: list[EventPlan],
            touches: dict | None = None) -> tuple[Persons, list[Write]]:
    """Everything short of writing: the persons found and the writes to make.
    ``touches``: the batch's campaign touches (:mod:`.touches`), for the
    mapping's ``member_fields``.

    Raises:
        RetriableError, FatalError: a lookup query failed as a whole.
    """
    # The person lookups and the followers' stages need nothing of each other: sent
    # together, five queries to a call.
    by_person, by_stage = person_queries(plans), stage_queries(plans)
    rows = gateway.query_in_many([q for _, _, q in by_person] + [q for _, q in by_stage])
    persons = resolve_persons(plans, found_persons(by_person, rows[:len(by_person)]))
    stages = found_stages(by_stage, rows[len(by_person):])
    facts = find_campaign_facts(gateway, plans, persons)
    facts.touches = dict(touches or {})
    return persons, plan_writes(plans, persons, facts, stages)


def apply_plans(gateway: SalesforceGateway, plans: list[EventPlan],
                touches: dict | None = None) -> BatchOutcome:
    """Write ``plans`` to Salesforce (``touches``: as :func:`prepare`).

    Raises:
        RetriableError, FatalError: a whole call failed; nothing is known per record.
    """
    persons, writes = prepare(gateway, plans, touches)
    out = BatchOutcome()
    ids: dict[Ref, str] = {}
    failed: dict[Ref, BridgeError] = {}
    blocked: set[str] = set()  # events whose campaign status could not be added
    for together in rounds(writes):
        if together[0].object == "CampaignMemberStatus":
            blocked |= add_statuses(gateway, together[0], out.errors)
        else:
            _execute(gateway, together, ids, failed, out, blocked)
    for openid, (obj, person) in persons.found.items():
        person_id = ids.get(person) if isinstance(person, Ref) else person
        if person_id:
            out.persons[openid] = (obj, person_id)
    out.created = {o for o, (obj, key_field, record) in persons.to_create.items()
                   if Ref(obj, key_field, record[key_field]) in ids}
    return out


def _execute(gateway: SalesforceGateway, writes: list[Write], ids: dict[Ref, str],
             failed: dict[Ref, BridgeError], out: BatchOutcome,
             blocked: set[str] | None = None) -> None:
    """Run one round of ``writes`` (:func:`~.writes.rounds`) in as few calls as
    ``write_collections`` makes of them; each record's outcome goes to its events."""
    ready = [_ready(write, ids, failed, out, blocked) for write in writes]
    sent = [(write, items) for write, items in zip(writes, ready, strict=True) if items]
    results = gateway.write_collections([
        CollectionWrite(write.action, write.object, [r for r, _ in items],
                        key=write.key_field if write.action == "upsert" else None,
                        assign=write.assign) for write, items in sent])
    for (write, items), answers in zip(sent, results, strict=True):
        for (record, events), result in zip(items, answers, strict=True):
            ref = Ref(write.object, write.key_field, record[write.key_field]) \
                if write.action == "upsert" else None
            if result.success:
                if ref is not None and result.id:
                    ids[ref] = result.id
                if write.object == "CampaignMember":
                    out.members += 1
            elif write.duplicate_ok and any(e.code == DUPLICATE_VALUE for e in result.errors):
                continue  # already there: what these events wanted is in place
            else:
                if ref is not None:
                    failed[ref] = result.errors[0]
                out.fail(events, result.errors[0])


def _ready(write: Write, ids: dict[Ref, str], failed: dict[Ref, BridgeError],
           out: BatchOutcome, blocked: set[str] | None) -> list[tuple[dict, tuple[str, ...]]]:
    """``write``'s records to send, each with its Refs replaced by the Ids an earlier
    round wrote, and its events; a record whose Ref could not be written fails its
    events (and is left out, or sent without that field when the links are optional)."""
    ready: list[tuple[dict, tuple[str, ...]]] = []
    for record, events in zip(write.records, write.events, strict=True):
        if write.object == "CampaignMember" and blocked and blocked.intersection(events):
            continue  # its status is missing: written once it can be (the events failed)
        missing = [v for v in record.values() if isinstance(v, Ref) and v not in ids]
        if missing:  # the record it points at could not be created
            out.fail(events, failed.get(missing[0]) or FatalError(
                f"{missing[0]} was not created", code="DEPENDENCY_FAILED"))
            if not write.links_optional:
                continue
            record = {k: v for k, v in record.items() if v not in missing}
        ready.append(({k: ids[v] if isinstance(v, Ref) else v for k, v in record.items()},
                      events))
    return ready
