"""Describe payloads built from the schema, with the keys of a real describe (reference V4)."""

from __future__ import annotations

from sandbox.salesforce.schema import TEXT_TYPES, Field, Schema, SObject

_SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean",
               "datetime": "xsd:dateTime", "date": "xsd:date", "int": "xsd:int",
               "double": "xsd:double"}
_SYSTEM = frozenset({"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
                     "LastModifiedById", "SystemModstamp"})


def describe_field(obj: SObject, f: Field) -> dict:
    """One entry of ``fields`` in ``GET sobjects/{obj}/describe`` (keys in Salesforce's order)."""
    text = f.type in TEXT_TYPES
    long_text = f.type == "textarea"
    person_name = f.name in ("FirstName", "LastName") and obj.field("Name") is not None
    return {
        "aggregatable": f.type not in ("boolean", "textarea"),
        "aiPredictionField": False,
        "autoNumber": f.auto_number,
        "byteLength": f.length * 3 if text else f.length,
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": obj.name == "CampaignMember" and f.name == "CampaignId",
        "caseSensitive": f.case_sensitive,
        "compoundFieldName": "Name" if person_name else None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default if f.type == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.digits,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": f.extra_type_info,
        "filterable": not long_text,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.type not in ("textarea", "datetime", "double"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.id_lookup,
        "inlineHelpText": None,
        "label": f.label,
        "length": 0 if f.type in _SOAP_TYPES and f.type not in ("id", "reference") else f.length,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": False,
        "nillable": f.nillable,
        "permissionable": f.nillable and f.name not in _SYSTEM and f.createable,
        "picklistValues": [
            {"active": True, "defaultValue": value == f.default, "label": value,
             "validFor": None, "value": value}
            for value in f.picklist
        ],
        "polymorphicForeignKey": False,
        "precision": f.precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted,
        "scale": f.scale,
        "searchPrefilterable": False,
        "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": not long_text,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def _urls(obj: SObject, version: str) -> dict:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"rowTemplate": base + "/{ID}", "describe": base + "/describe", "sobject": base}


def describe_global_entry(obj: SObject, version: str) -> dict:
    """One entry of ``sobjects`` in describeGlobal."""
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": not obj.read_only, "custom": obj.custom, "customSetting": False,
        "deepCloneable": False, "deletable": not obj.read_only, "deprecatedAndHidden": False,
        "feedEnabled": False, "hasSubtypes": False, "isInterface": False, "isSubtype": False,
        "keyPrefix": obj.key_prefix, "label": obj.label, "labelPlural": obj.label_plural,
        "layoutable": True, "mergeable": obj.name in ("Lead", "Contact", "Account"),
        "mruEnabled": True, "name": obj.name, "queryable": True, "replicateable": True,
        "retrieveable": True, "searchable": True, "triggerable": True,
        "undeletable": not obj.read_only, "updateable": not obj.read_only,
        "urls": _urls(obj, version),
    }


def describe_sobject(obj: SObject, version: str) -> dict:
    """``GET sobjects/{obj}/describe``."""
    body = describe_global_entry(obj, version)
    body.update(childRelationships=[], recordTypeInfos=[],
                fields=[describe_field(obj, f) for f in obj.fields])
    return dict(sorted(body.items()))


def describe_global(schema: Schema, version: str) -> dict:
    """``GET sobjects/``."""
    return {"encoding": "UTF-8", "maxBatchSize": 200,
            "sobjects": [describe_global_entry(schema.get(n), version) for n in schema.names()]}
