"""The Salesforce metadata in salesforce/ is deployable and is what the sandbox describes.

The expectations here read the XML files themselves (not through ``sandbox.salesforce.
metadata``), so a reader bug cannot hide behind the same bug in the check.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mappings.loader import load_mapping
from sandbox.salesforce import describe, schema
from sandbox.salesforce.metadata import MetadataError
from sandbox.salesforce.store import Store

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "salesforce"
SOURCE = PROJECT / "force-app"
DEFAULT = SOURCE / "main" / "default"
NS = "{http://soap.sforce.com/2006/04/metadata}"
FILES = sorted(SOURCE.rglob("*.xml"))
FIELD_FILES = sorted(DEFAULT.glob("objects/*/fields/*.field-meta.xml"))
# What each Metadata API type is in a describe (Salesforce's documented correspondence).
DESCRIBE_TYPES = {"Text": "string", "Checkbox": "boolean", "DateTime": "datetime",
                  "Date": "date", "Number": "double", "Lookup": "reference",
                  "LongTextArea": "textarea", "TextArea": "textarea", "Picklist": "picklist"}
REQUIRED = {
    "CustomField": ("fullName", "label", "type"),
    "CustomObject": ("label", "pluralLabel", "nameField", "deploymentStatus", "sharingModel"),
    "PermissionSet": ("label",),
}
BY_TYPE = {"Text": ("length",), "LongTextArea": ("length", "visibleLines"),
           "Lookup": ("referenceTo", "relationshipName", "deleteConstraint")}


def children(path: Path) -> dict[str, str | None]:
    """Top-level elements of a metadata file by local name (repeated ones: the last)."""
    return {el.tag.removeprefix(NS): el.text for el in ET.parse(path).getroot()}


def described(obj: str, source: Path = SOURCE) -> dict[str, dict]:
    sobject = schema.Schema(schema.objects(source)).get(obj)
    return {f["name"]: f for f in describe.describe_sobject(sobject, "62.0")["fields"]}


# -- the files ------------------------------------------------------------------------------

def test_project_points_at_the_source_folder():
    project = json.loads((PROJECT / "sfdx-project.json").read_text())
    [package] = project["packageDirectories"]
    assert (PROJECT / package["path"]).resolve() == SOURCE.resolve()
    assert float(project["sourceApiVersion"]) >= 59


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_every_file_is_metadata_with_its_required_elements(path):
    root = ET.parse(path).getroot()
    kind = root.tag.removeprefix(NS)
    assert root.tag == NS + kind and path.name.endswith(
        {"CustomField": ".field-meta.xml", "CustomObject": ".object-meta.xml",
         "PermissionSet": ".permissionset-meta.xml"}[kind])
    tags = [el.tag.removeprefix(NS) for el in root]
    elements = children(path)
    wanted = REQUIRED[kind] + BY_TYPE.get(elements.get("type") or "", ())
    assert [t for t in wanted if not elements.get(t) and root.find(NS + t) is None] == []
    # The order `sf project retrieve` writes: fullName first, the rest alphabetical.
    rest = tags[1:] if tags[0] == "fullName" else tags
    assert rest == sorted(rest), path.name
    if kind == "CustomField":
        assert path.name == f"{elements['fullName']}.field-meta.xml"
        assert elements["type"] in DESCRIBE_TYPES


def test_the_follower_object_is_a_deployed_auto_numbered_object():
    obj = children(DEFAULT / "objects/WeChat_Follower__c/WeChat_Follower__c.object-meta.xml")
    assert (obj["label"], obj["pluralLabel"], obj["deploymentStatus"], obj["sharingModel"]) \
        == ("WeChat Follower", "WeChat Followers", "Deployed", "ReadWrite")
    # Salesforce refuses these three unless they are all on or all off.
    assert {obj["enableBulkApi"], obj["enableSharing"], obj["enableStreamingApi"]} == {"true"}


def test_permission_set_grants_the_bridge_every_custom_field_and_the_follower():
    root = ET.parse(DEFAULT / "permissionsets/WeChat_Bridge_Integration.permissionset-meta.xml"
                    ).getroot()
    fields = {el.findtext(NS + "field"): (el.findtext(NS + "readable"),
                                          el.findtext(NS + "editable"))
              for el in root.iter(NS + "fieldPermissions")}
    expected = {f"{p.parent.parent.name}.{p.name.split('.')[0]}" for p in FIELD_FILES}
    assert set(fields) == expected
    assert fields["Campaign.WeChat_Auto_Reply__c"] == ("true", "false")  # admins write it
    # keyword replies: admins write them, the bridge reads them
    assert {v for k, v in fields.items() if k.startswith("WeChat_Keyword_Reply__c.")} == {
        ("true", "false")}
    assert {v for k, v in fields.items()
            if not k.startswith(("Campaign.", "WeChat_Keyword_Reply__c."))} == {("true", "true")}
    objects = {el.findtext(NS + "object"): el for el in root.iter(NS + "objectPermissions")}
    follower = objects["WeChat_Follower__c"]
    assert [follower.findtext(NS + p) for p in ("allowCreate", "allowRead", "allowEdit",
                                                "allowDelete")] == ["true"] * 4
    assert len(root.findtext(NS + "description")) <= 255  # Salesforce's limit


# -- the sandbox describes what the files say ------------------------------------------------

@pytest.mark.parametrize("obj", sorted({p.parent.parent.name for p in FIELD_FILES}))
def test_describe_of_custom_fields_is_the_metadata(obj):
    fields = described(obj)
    files = {p.name.split(".")[0]: children(p)
             for p in FIELD_FILES if p.parent.parent.name == obj}
    assert {n for n, f in fields.items() if f["custom"]} == set(files)
    for name, meta in files.items():
        f = fields[name]
        kind = meta["type"]
        assert f["type"] == DESCRIBE_TYPES[kind], name
        assert f["label"] == meta["label"], name
        assert f["externalId"] == (meta.get("externalId") == "true"), name
        assert f["unique"] == (meta.get("unique") == "true"), name
        assert f["caseSensitive"] == (meta.get("caseSensitive") == "true"), name
        assert f["idLookup"] == f["externalId"], name
        if kind in ("Text", "LongTextArea"):
            assert f["length"] == int(meta["length"]), name
        if kind == "Checkbox":
            assert (f["nillable"], f["defaultValue"]) == (False, meta["defaultValue"] == "true")
        else:
            assert f["nillable"] == (meta.get("required") != "true"), name
        assert f["referenceTo"] == ([meta["referenceTo"]] if kind == "Lookup" else []), name


def test_describe_spot_checks():
    follower = described("WeChat_Follower__c")
    openid = follower["OpenId__c"]
    assert (openid["externalId"], openid["unique"], openid["caseSensitive"], openid["length"],
            openid["idLookup"]) == (True, True, True, 64, True)
    assert follower["Lead__c"]["referenceTo"] == ["Lead"]
    assert follower["Lead__c"]["relationshipName"] == "Lead__r"
    assert follower["Subscribed__c"]["type"] == "boolean"
    name = follower["Name"]
    assert (name["autoNumber"], name["createable"], name["label"]) == \
        (True, False, "Follower Number")
    union = described("Lead")["WeChat_UnionId__c"]
    assert (union["externalId"], union["unique"]) == (True, False)
    reply = described("Campaign")["WeChat_Auto_Reply__c"]
    assert (reply["type"], reply["length"], reply["extraTypeInfo"]) == \
        ("textarea", 2000, "plaintextarea")
    assert schema.Schema().get("WeChat_Follower__c").key_prefix == "a0B"


# -- one source of truth: change the files, the sandbox follows ------------------------------

FIELD = """<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>{name}</fullName>
    {body}
</CustomField>
"""


@pytest.fixture
def source(tmp_path) -> Path:
    copy = tmp_path / "force-app"
    shutil.copytree(SOURCE, copy)
    return copy


def add_field(source: Path, obj: str, name: str, body: str) -> None:
    folder = source / "main/default/objects" / obj / "fields"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.field-meta.xml").write_text(FIELD.format(name=name, body=body))


def test_a_field_added_to_the_metadata_appears_in_the_describe(source):
    assert "Score__c" not in described("WeChat_Follower__c", source)
    add_field(source, "WeChat_Follower__c", "Score__c",
              "<label>Score</label><precision>18</precision><required>true</required>"
              "<scale>2</scale><type>Number</type>")
    add_field(source, "Contact", "WeChat_Stage__c",
              "<label>WeChat Stage</label><type>Picklist</type><valueSet><restricted>true"
              "</restricted><valueSetDefinition><value><fullName>New</fullName><default>true"
              "</default><label>New</label></value><value><fullName>Engaged</fullName>"
              "<default>false</default><label>Engaged</label></value></valueSetDefinition>"
              "</valueSet>")
    score = described("WeChat_Follower__c", source)["Score__c"]
    assert (score["type"], score["precision"], score["scale"], score["nillable"],
            score["custom"]) == ("double", 18, 2, False, True)
    stage = described("Contact", source)["WeChat_Stage__c"]
    assert [v["value"] for v in stage["picklistValues"] if v["defaultValue"]] == ["New"]
    assert (stage["type"], stage["restrictedPicklist"]) == ("picklist", True)


def test_the_auto_number_format_comes_from_the_metadata(source):
    path = source / "main/default/objects/WeChat_Follower__c/WeChat_Follower__c.object-meta.xml"
    path.write_text(path.read_text().replace("WF-{000000}", "FOL-{0000}"))
    store = Store(schema.Schema(schema.objects(source)), user_id="005000000000001AAA")
    first = store.create("WeChat_Follower__c", {"OpenId__c": "o1"})
    store.create("Lead", {"LastName": "Li", "Company": "C"})
    second = store.create("WeChat_Follower__c", {"OpenId__c": "o2"})
    names = {r["Id"]: r["Name"] for r in store.rows("WeChat_Follower__c")}
    assert (names[first], names[second]) == ("FOL-0001", "FOL-0002")


@pytest.mark.parametrize(("obj", "name", "body", "needle"), [
    ("WeChat_Follower__c", "Bad__c", "<label>Bad</label><type>Lookup</type>", "referenceTo"),
    ("WeChat_Follower__c", "Geo__c", "<label>Geo</label><type>Location</type>", "Location"),
    ("WeChat_Follower__c", "Odd__c", "<label>Odd</label><type>Text</type>", "length"),
    ("Opportunity", "X__c", "<label>X</label><type>Text</type><length>5</length>",
     "Opportunity"),
])
def test_bad_metadata_is_refused_with_the_file_named(source, obj, name, body, needle):
    add_field(source, obj, name, body)
    with pytest.raises(MetadataError, match=needle) as caught:
        schema.objects(source)
    assert obj in str(caught.value)


# -- the shipped mapping only names fields that exist ------------------------------------------

def test_default_mapping_fields_are_in_the_metadata_or_standard():
    custom = {(p.parent.parent.name, p.name.split(".")[0]) for p in FIELD_FILES}
    standard = {(o.name, f.name) for o in schema.OBJECTS for f in o.fields if not f.custom}
    uses = load_mapping(REPO / "mappings" / "default.yaml").field_uses()
    assert uses
    missing = [(u.object, u.field) for u in uses
               if (u.object, u.field) not in (custom if u.field.endswith("__c") else standard)]
    assert missing == []
