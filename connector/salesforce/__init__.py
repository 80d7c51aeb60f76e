"""The Salesforce gateway: the only package that imports simple-salesforce.

Callers use :class:`SalesforceGateway` and the names below; ``format_soql`` is
re-exported so nobody else needs simple-salesforce to build a query string.
"""

from simple_salesforce.format import format_external_id, format_soql

from connector.salesforce.auth import Token, fetch_token, jwt_audience
from connector.salesforce.budget import ApiBudget
from connector.salesforce.collections import COLLECTION_SIZE, CollectionWrite
from connector.salesforce.errors import (
    DUPLICATE_VALUE,
    DuplicateMemberError,
    Target,
    classify_response,
    is_duplicate_member,
)
from connector.salesforce.gateway import SalesforceGateway
from connector.salesforce.identity import Identity, parse_identity
from connector.salesforce.limits import ApiUsage
from connector.salesforce.queries import InQuery, strip_attributes
from connector.salesforce.results import SaveResult
from connector.salesforce.sessions import SessionStore

__all__ = [
    "ApiBudget",
    "ApiUsage",
    "COLLECTION_SIZE",
    "CollectionWrite",
    "DUPLICATE_VALUE",
    "DuplicateMemberError",
    "Identity",
    "InQuery",
    "SalesforceGateway",
    "SaveResult",
    "SessionStore",
    "Target",
    "Token",
    "classify_response",
    "fetch_token",
    "format_external_id",
    "format_soql",
    "is_duplicate_member",
    "jwt_audience",
    "parse_identity",
    "strip_attributes",
]
