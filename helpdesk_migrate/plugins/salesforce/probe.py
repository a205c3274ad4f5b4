"""The Salesforce destination's read-only probe: the describes and one page of every SOQL query the plugin
reads before and during a load (matching Users, queues, record types, the pre-flight's Tooling queries, limits).

Read-only by construction: GET describes and SOQL/Tooling queries (``query``/``toolingexecute`` with a SELECT,
``LIMIT 5``) through the plugin's own client, which never writes unless asked to. An endpoint the org refuses
(no Tooling permission, Knowledge off) is yielded as the exception; the engine keeps only its type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from .client import ApiLimitReached, SalesforceUnavailable, connect
from .settings import SalesforceConfig

DESCRIBED = ("Case", "Contact", "EmailMessage", "CaseComment", "Task", "User", "Group", "ContentVersion")
QUERIES = {
    "SOQL User": "SELECT Id, Email, Username, IsActive, Name FROM User LIMIT 5",
    "SOQL Group (queues)": "SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' LIMIT 5",
    "SOQL QueueSobject": "SELECT QueueId, SobjectType FROM QueueSobject LIMIT 5",
    "SOQL GroupMember": "SELECT GroupId, UserOrGroupId FROM GroupMember LIMIT 5",
    "SOQL RecordType": "SELECT Id, DeveloperName, IsActive, SobjectType FROM RecordType LIMIT 5",
    "SOQL Contact": "SELECT Id, Email, FirstName, LastName FROM Contact LIMIT 5",
    "SOQL PermissionSetAssignment": "SELECT PermissionSetId FROM PermissionSetAssignment LIMIT 5",
    "SOQL FlowDefinitionView": "SELECT ApiName, Label, ProcessType, TriggerType, TriggerObjectOrEventLabel FROM "
                               "FlowDefinitionView WHERE IsActive = true LIMIT 5",
    "SOQL DuplicateRule": "SELECT DeveloperName, MasterLabel, SobjectType FROM DuplicateRule LIMIT 5",
}
TOOLING = {
    "Tooling ValidationRule": "SELECT Id, ValidationName, EntityDefinitionId, ErrorMessage, Description FROM "
                              "ValidationRule LIMIT 5",
    "Tooling ApexTrigger": "SELECT Id, Name, TableEnumOrId, UsageBeforeInsert, UsageAfterInsert FROM ApexTrigger "
                           "LIMIT 5",
}
FAILURES = (SalesforceError, SalesforceUnavailable, ApiLimitReached, requests.RequestException, KeyError)


def probe(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    client = connect(SalesforceConfig.from_env(env))

    def read(fn, *args: Any) -> Any:
        try:
            return client.call(fn, *args)
        except FAILURES as exc:
            return exc

    yield "GET sobjects (describe global)", read(client.sf.describe)
    for obj in DESCRIBED:
        yield f"GET sobjects/{obj}/describe", read(getattr(client.sf, obj).describe)
    for name, soql in QUERIES.items():
        yield name, read(client.sf.query, soql)  # the first page only: no nextRecordsUrl is followed
    for name, soql in TOOLING.items():
        yield name, read(client.sf.toolingexecute, "query/?q=" + requests.utils.quote(soql, safe=""))
    yield "GET limits", read(client.sf.limits)
