"""The emulated org's standard schema and a deterministic synthetic org from (seed, size).

The org is what a migration meets in a real Service Cloud org: an admin, other Users (some inactive),
Contacts already there (with duplicated and mixed-case emails), Accounts, a queue, Cases that are not
ours, Case record types, a dependent picklist (Type -> Reason), active validation rules, flows,
workflow rules and triggers on the target objects, duplicate rules, and Knowledge with a data-category
group. ``existing`` provisions canonical agents/teams/contacts/tags so email matching can be rehearsed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .org import (
    FieldDef,
    ObjectDef,
    Org,
    ValidationRule,
    encode_valid_for,
    format_datetime,
    picklist_values,
)
from .profiles import OrgBehaviour

SEED_EPOCH = datetime(2022, 1, 3, 8, 0, tzinfo=UTC)
LANGUAGES = ("en_US", "nl_NL", "de", "fr", "es", "it")


def F(name: str, type_: str, **kw: Any) -> FieldDef:  # noqa: N802 - reads like a schema table
    return FieldDef(name, type_, **kw)


def _system(audit: bool = True) -> list[FieldDef]:
    return [
        F("Id", "id", createable=False, updateable=False, nillable=False, defaulted=True),
        F("CreatedDate", "datetime", createable=False, updateable=False, nillable=False, defaulted=True, audit=audit),
        F("CreatedById", "reference", createable=False, updateable=False, nillable=False, defaulted=True,
          audit=audit, reference_to=("User",), relationship_name="CreatedBy"),
        F("LastModifiedDate", "datetime", createable=False, updateable=False, nillable=False, defaulted=True,
          audit=audit),
        F("LastModifiedById", "reference", createable=False, updateable=False, nillable=False, defaulted=True,
          audit=audit, reference_to=("User",), relationship_name="LastModifiedBy"),
        F("SystemModstamp", "datetime", createable=False, updateable=False, nillable=False, defaulted=True),
        F("IsDeleted", "boolean", createable=False, updateable=False, nillable=False, defaulted=True),
    ]


def _obj(name: str, prefix: str, fields: list[FieldDef], *, audit: bool = True, owner: bool = False,
         **kw: Any) -> ObjectDef:
    all_fields = _system(audit) + fields
    if owner:
        all_fields.append(F("OwnerId", "reference", nillable=False, defaulted=True, reference_to=("User",),
                            relationship_name="Owner"))
    return ObjectDef(name, prefix, {f.name: f for f in all_fields}, **kw)


def _ro(name: str, type_: str = "string", **kw: Any) -> FieldDef:
    return F(name, type_, createable=False, updateable=False, **kw)


def _picklist(name: str, values: Sequence[str], *, default: str | None = None, restricted: bool = True,
              **kw: Any) -> FieldDef:
    return F(name, kw.pop("type_", "picklist"), length=kw.pop("length", 255), picklist=picklist_values(values, default),
             restricted=restricted, defaulted=default is not None, default=default, **kw)


CASE_TYPES = ("Problem", "Feature Request", "Question")
CASE_REASONS = {  # reason -> types it is valid for (a dependent picklist, as orgs commonly have)
    "Installation": ("Problem", "Question"), "Equipment Complexity": ("Problem",), "Performance": ("Problem",),
    "Breakdown": ("Problem",), "Equipment Design": ("Feature Request",), "Feedback": ("Feature Request", "Question"),
    "Documentation": ("Question",), "Instructions not clear": ("Question",), "New problem": ("Problem",),
    "Existing problem": ("Problem",),
}


GEOCODE_ACCURACY = ("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "Neighborhood", "City",
                    "County", "State", "Unknown")


def _address(prefix: str, label: str) -> list[FieldDef]:
    """A standard address's component fields (the compound <prefix>Address field is read-only and left out)."""
    return [
        F(f"{prefix}Street", "textarea", length=255, label=f"{label} Street"),
        F(f"{prefix}City", "string", length=40, label=f"{label} City"),
        F(f"{prefix}State", "string", length=80, label=f"{label} State/Province"),
        F(f"{prefix}PostalCode", "string", length=20, label=f"{label} Zip/Postal Code"),
        F(f"{prefix}Country", "string", length=80, label=f"{label} Country"),
        F(f"{prefix}Latitude", "double", precision=18, scale=15, label=f"{label} Latitude"),
        F(f"{prefix}Longitude", "double", precision=18, scale=15, label=f"{label} Longitude"),
        _picklist(f"{prefix}GeocodeAccuracy", GEOCODE_ACCURACY, length=40, restricted=True,
                  label=f"{label} Geocode Accuracy"),
    ]


def contact_fields() -> list[FieldDef]:
    """Contact's standard fields as a Service Cloud org describes them (Salesforce Field Reference, Contact;
    Object Reference, Contact: labels, types, lengths, Create/Update/Nillable). Fields that need features the
    emulated org lacks (Individual, Data.com Clean, cadences, Person Accounts, middle names) are left out."""
    return [
        F("Salutation", "picklist", length=40, label="Salutation", picklist=picklist_values(
            ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")), restricted=False),
        F("FirstName", "string", length=40, label="First Name"),
        F("LastName", "string", length=80, nillable=False, label="Last Name"),
        _ro("Name", length=121, label="Full Name"),
        F("Email", "email", length=80, indexed=True, label="Email"),
        F("Phone", "phone", length=40, label="Business Phone"),
        F("MobilePhone", "phone", length=40, label="Mobile Phone"),
        F("HomePhone", "phone", length=40, label="Home Phone"),
        F("OtherPhone", "phone", length=40, label="Other Phone"),
        F("Fax", "phone", length=40, label="Business Fax"),
        F("AssistantName", "string", length=40, label="Assistant's Name"),
        F("AssistantPhone", "phone", length=40, label="Asst. Phone"),
        F("Title", "string", length=128, label="Title"),
        F("Department", "string", length=80, label="Department"),
        F("Description", "textarea", length=32000, label="Contact Description", filterable=False),
        F("AccountId", "reference", reference_to=("Account",), relationship_name="Account", label="Account ID"),
        F("ReportsToId", "reference", reference_to=("Contact",), relationship_name="ReportsTo",
          label="Reports To ID"),
        *_address("Mailing", "Mailing"),
        *_address("Other", "Other"),
        F("Birthdate", "date", label="Birthdate"),
        _picklist("LeadSource", ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
                  length=40, restricted=False, label="Lead Source"),
        F("HasOptedOutOfEmail", "boolean", label="Email Opt Out"),
        F("HasOptedOutOfFax", "boolean", label="Fax Opt Out"),
        F("DoNotCall", "boolean", label="Do Not Call"),
        F("EmailBouncedReason", "string", length=255, label="Email Bounced Reason"),
        F("EmailBouncedDate", "datetime", label="Email Bounced Date"),
        _ro("IsEmailBounced", "boolean", label="Is Email Bounced"),
        F("Jigsaw", "string", length=20, label="Data.com Key"),
        _ro("JigsawContactId", length=20, label="Jigsaw Contact ID"),
        _ro("PhotoUrl", "url", length=255, label="Photo URL"),
        _ro("MasterRecordId", "reference", reference_to=("Contact",), relationship_name="MasterRecord",
            label="Master Record ID"),
        _ro("LastActivityDate", "date", label="Last Activity"),
        _ro("LastCURequestDate", "datetime", label="Last Stay-in-Touch Request Date"),
        _ro("LastCUUpdateDate", "datetime", label="Last Stay-in-Touch Save Date"),
        _ro("LastViewedDate", "datetime", label="Last Viewed Date"),
        _ro("LastReferencedDate", "datetime", label="Last Referenced Date"),
    ]


def case_fields(reason: FieldDef) -> list[FieldDef]:
    """Case's standard fields as a Service Cloud org describes them (Salesforce Field Reference, Case; Object
    Reference, Case). Type and Reason carry the org's own values (Type -> Reason is a dependent picklist, as
    orgs commonly set up); Status, Priority and Origin the standard ones. Fields on objects the emulated org
    lacks (Asset, BusinessHours, Entitlement, Community, source records) are left out."""
    reason.label = "Case Reason"
    return [
        _ro("CaseNumber", length=30, indexed=True, label="Case Number"),
        F("Subject", "string", length=255, label="Subject"),
        F("Description", "textarea", length=32000, label="Description", filterable=False),
        F("Comments", "textarea", length=4000, label="Internal Comments", filterable=False),
        _picklist("Status", ("New", "Working", "Escalated", "Closed"), default="New", label="Status"),
        _picklist("Priority", ("High", "Medium", "Low"), default="Medium", label="Priority"),
        _picklist("Origin", ("Phone", "Email", "Web"), restricted=False, label="Case Origin"),
        _picklist("Type", CASE_TYPES, restricted=False, label="Case Type"),
        reason,
        F("ContactId", "reference", reference_to=("Contact",), relationship_name="Contact", label="Contact ID"),
        F("AccountId", "reference", reference_to=("Account",), relationship_name="Account", label="Account ID"),
        F("OwnerId", "reference", nillable=False, defaulted=True, reference_to=("User", "Group"),
          relationship_name="Owner", label="Owner ID"),
        F("ParentId", "reference", reference_to=("Case",), relationship_name="Parent", label="Parent Case ID"),
        F("RecordTypeId", "reference", reference_to=("RecordType",), relationship_name="RecordType",
          label="Record Type ID"),
        _ro("IsClosed", "boolean", label="Closed"),
        # Not createable, audit permission or not (object reference: Filter, Nillable, Sort); the
        # closeddate-createable profile makes it an audit field (see emulator_profiles.py).
        F("ClosedDate", "datetime", createable=False, updateable=False, label="Closed Date"),
        _ro("IsClosedOnCreate", "boolean", label="Closed When Created"),
        F("IsEscalated", "boolean", label="Escalated"),
        F("SuppliedEmail", "email", length=80, label="Web Email"),
        F("SuppliedName", "string", length=80, label="Web Name"),
        F("SuppliedPhone", "string", length=40, label="Web Phone"),
        F("SuppliedCompany", "string", length=80, label="Web Company"),
        _ro("ContactEmail", "email", length=80, label="Contact Email"),
        _ro("ContactPhone", "phone", length=40, label="Contact Phone"),
        _ro("ContactMobile", "phone", length=40, label="Contact Mobile"),
        _ro("ContactFax", "phone", length=40, label="Contact Fax"),
        _ro("MasterRecordId", "reference", reference_to=("Case",), relationship_name="MasterRecord",
            label="Master Record ID"),
        _ro("LastViewedDate", "datetime", label="Last Viewed Date"),
        _ro("LastReferencedDate", "datetime", label="Last Referenced Date"),
    ]


def standard_objects() -> list[ObjectDef]:
    reason = F("Reason", "picklist", length=255, restricted=False, controller="Type", label="Case Reason", picklist=[
        {"active": True, "defaultValue": False, "label": r, "value": r,
         "validFor": encode_valid_for(CASE_TYPES.index(t) for t in types)} for r, types in CASE_REASONS.items()])
    objects = [
        _obj("Organization", "00D", [F("Name", "string", length=80), F("IsSandbox", "boolean"),
                                     F("OrganizationType", "string", length=40)], audit=False, createable=False,
             allows_custom_fields=False),
        _obj("Profile", "00e", [F("Name", "string", length=255, nillable=False)], audit=False, setup=True,
             allows_custom_fields=False),
        _obj("User", "005", [
            F("Username", "string", length=80, nillable=False, unique=True),
            F("Email", "email", length=128, nillable=False, indexed=True),
            F("FirstName", "string", length=40), F("LastName", "string", length=80, nillable=False),
            _ro("Name", length=121), F("Alias", "string", length=8, nillable=False),
            F("IsActive", "boolean", default=True, defaulted=True),
            F("ProfileId", "reference", reference_to=("Profile",), relationship_name="Profile"),
            F("Title", "string", length=80), F("Department", "string", length=80),
            _picklist("TimeZoneSidKey", ("Europe/Amsterdam", "Europe/London", "America/New_York", "GMT"),
                      default="Europe/Amsterdam"),
            _picklist("LocaleSidKey", ("nl_NL", "en_US", "en_GB", "de_DE"), default="en_US"),
            _picklist("LanguageLocaleKey", ("en_US", "nl_NL", "de"), default="en_US"),
            _picklist("EmailEncodingKey", ("UTF-8", "ISO-8859-1"), default="UTF-8"),
        ], audit=False, setup=True),
        _obj("PermissionSet", "0PS", [
            F("Name", "string", length=80, nillable=False), F("Label", "string", length=80),
            F("IsOwnedByProfile", "boolean", createable=False),
            F("ProfileId", "reference", reference_to=("Profile",), createable=False),
            F("PermissionsCreateAuditFields", "boolean"), F("PermissionsUpdateWithInactiveOwner", "boolean"),
            F("PermissionsModifyAllData", "boolean"), F("PermissionsViewAllData", "boolean"),
            F("PermissionsManageUsers", "boolean"),
        ], audit=False, setup=True, allows_custom_fields=False),
        _obj("PermissionSetAssignment", "0Pa", [
            F("AssigneeId", "reference", nillable=False, reference_to=("User",), relationship_name="Assignee"),
            F("PermissionSetId", "reference", nillable=False, reference_to=("PermissionSet",),
              relationship_name="PermissionSet"),
        ], audit=False, setup=True, updateable=False, allows_custom_fields=False),
        _obj("FieldPermissions", "01k", [
            F("ParentId", "reference", nillable=False, reference_to=("PermissionSet",), relationship_name="Parent"),
            F("SobjectType", "string", length=80, nillable=False), F("Field", "string", length=255, nillable=False),
            F("PermissionsRead", "boolean"), F("PermissionsEdit", "boolean"),
        ], audit=False, setup=True, allows_custom_fields=False),
        _obj("RecordType", "012", [
            F("Name", "string", length=80, nillable=False), F("DeveloperName", "string", length=80, nillable=False),
            F("SobjectType", "string", length=40, nillable=False, indexed=True), F("IsActive", "boolean"),
            F("Description", "string", length=255),
        ], audit=False, createable=False, allows_custom_fields=False),
        _obj("Account", "001", [
            F("Name", "string", length=255, nillable=False, indexed=True), F("Website", "url", length=255),
            F("Phone", "phone", length=40), F("Industry", "string", length=255),
        ], owner=True),
        _obj("Contact", "003", contact_fields(), owner=True),
        _obj("Group", "00G", [
            F("Name", "string", length=40, nillable=False, indexed=True),
            F("DeveloperName", "string", length=80, unique=True, defaulted=True),
            _picklist("Type", ("Regular", "Queue", "Role", "Organization"), default="Regular"),
            F("Email", "email", length=80), F("DoesSendEmailToMembers", "boolean"),
            F("DoesIncludeBosses", "boolean"),
        ], audit=False, setup=True, allows_custom_fields=False),
        _obj("GroupMember", "011", [
            F("GroupId", "reference", nillable=False, updateable=False, reference_to=("Group",),
              relationship_name="Group"),
            F("UserOrGroupId", "reference", nillable=False, updateable=False, reference_to=("User", "Group")),
        ], audit=False, setup=True, updateable=False, allows_custom_fields=False),
        _obj("QueueSobject", "03g", [
            F("QueueId", "reference", nillable=False, updateable=False, reference_to=("Group",),
              relationship_name="Queue"),
            _picklist("SobjectType", ("Case", "Lead", "Knowledge__kav", "ContactRequest"), nillable=False,
                      updateable=False),
        ], audit=False, setup=True, updateable=False, allows_custom_fields=False),
        _obj("Case", "500", case_fields(reason)),
        _obj("CaseComment", "00a", [
            F("ParentId", "reference", nillable=False, updateable=False, reference_to=("Case",),
              relationship_name="Parent"),
            F("CommentBody", "textarea", length=4000, byte_length=True, filterable=False),
            F("IsPublished", "boolean"),
        ], allows_custom_fields=False),
        _obj("EmailMessage", "02s", [
            F("ParentId", "reference", reference_to=("Case",), relationship_name="Parent"),
            F("RelatedToId", "reference", reference_to=("Case", "Account", "Contact")),
            F("FromAddress", "email", length=1000), F("FromName", "string", length=1000),
            F("ToAddress", "string", length=4000), F("CcAddress", "string", length=4000),
            F("BccAddress", "string", length=4000), F("Subject", "string", length=3000),
            F("TextBody", "textarea", length=32000, filterable=False),
            F("HtmlBody", "textarea", length=32000, html=True, filterable=False),
            F("Headers", "textarea", length=32000, filterable=False), F("MessageDate", "datetime"),
            F("Incoming", "boolean"),
            _picklist("Status", ("0", "1", "2", "3", "4", "5"), nillable=False),
            _ro("HasAttachment", "boolean"), F("IsExternallyVisible", "boolean"),
            F("ReplyToEmailMessageId", "reference", reference_to=("EmailMessage",)),
            F("ThreadIdentifier", "string", length=255), _ro("ActivityId", "reference", reference_to=("Task",)),
        ]),
        _obj("Task", "00T", [
            _picklist("Subject", ("Call", "Send Letter", "Send Quote", "Other"), restricted=False, type_="combobox"),
            _picklist("Status", ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
                      default="Not Started"),
            _picklist("Priority", ("High", "Normal", "Low"), default="Normal"),
            F("WhatId", "reference", reference_to=("Case", "Account"), relationship_name="What"),
            F("WhoId", "reference", reference_to=("Contact",), relationship_name="Who"),
            F("ActivityDate", "date"), F("Description", "textarea", length=32000, filterable=False),
            _picklist("TaskSubtype", ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"), updateable=False),
            _picklist("CallType", ("Internal", "Inbound", "Outbound")),
            F("CallDurationInSeconds", "int"), F("CallObject", "string", length=255),
            F("CallDisposition", "string", length=255), _ro("IsClosed", "boolean"),
        ], owner=True),
        _obj("ContentDocument", "069", [
            F("Title", "string", length=255), _ro("LatestPublishedVersionId", "reference",
                                                 reference_to=("ContentVersion",)),
            _ro("FileExtension", length=40), _ro("ContentSize", "int"),
        ], owner=True, createable=False, allows_custom_fields=False),
        _obj("ContentVersion", "068", [
            F("Title", "string", length=255, defaulted=True), F("PathOnClient", "string", length=500, nillable=False,
                                                               updateable=False),
            F("VersionData", "base64", updateable=False),
            F("FirstPublishLocationId", "reference", updateable=False,
              reference_to=("Case", "EmailMessage", "Account", "Contact", "Knowledge__kav", "User")),
            F("ContentDocumentId", "reference", createable=False, updateable=False,
              reference_to=("ContentDocument",), relationship_name="ContentDocument"),
            _picklist("ContentLocation", ("S", "E", "L"), default="S", updateable=False),
            F("Description", "textarea", length=1000), _ro("FileExtension", length=40), _ro("ContentSize", "int"),
            _ro("Checksum", length=50), F("IsMajorVersion", "boolean", default=True, defaulted=True),
        ], owner=True),
        _obj("ContentDocumentLink", "06A", [
            F("ContentDocumentId", "reference", nillable=False, updateable=False, reference_to=("ContentDocument",),
              relationship_name="ContentDocument"),
            F("LinkedEntityId", "reference", nillable=False, updateable=False,
              reference_to=("Case", "EmailMessage", "Account", "Contact", "Knowledge__kav", "User")),
            _picklist("ShareType", ("V", "C", "I"), nillable=False),
            _picklist("Visibility", ("AllUsers", "InternalUsers", "SharedUsers"), default="AllUsers"),
        ], audit=False, allows_custom_fields=False),
        _obj("Knowledge__kav", "ka0", [
            F("Title", "string", length=255, nillable=False), F("UrlName", "string", length=255, nillable=False,
                                                               unique=True),
            F("Summary", "textarea", length=1000), _picklist("Language", LANGUAGES, default="en_US"),
            _picklist("PublishStatus", ("Draft", "Online", "Archived"), createable=False, updateable=False),
            _ro("KnowledgeArticleId", "reference", reference_to=("Knowledge__kav",), indexed=True),
            _ro("VersionNumber", "int"), _ro("ArticleNumber", length=30), _ro("LastPublishedDate", "datetime"),
            F("IsVisibleInPkb", "boolean"), F("IsVisibleInCsp", "boolean"), F("IsVisibleInPrm", "boolean"),
            F("IsVisibleInApp", "boolean", default=True, defaulted=True),
        ], owner=True, custom=True, label="Knowledge"),
        _obj("Knowledge__DataCategorySelection", "02o", [
            F("ParentId", "reference", nillable=False, updateable=False, reference_to=("Knowledge__kav",),
              relationship_name="Parent"),
            F("DataCategoryGroupName", "string", length=80, nillable=False),
            F("DataCategoryName", "string", length=80, nillable=False),
        ], audit=False, updateable=False, allows_custom_fields=False),
        _obj("DuplicateRule", "0Bm", [
            F("DeveloperName", "string", length=80), F("MasterLabel", "string", length=80),
            F("SobjectType", "string", length=40), F("IsActive", "boolean"),
        ], audit=False, createable=False, allows_custom_fields=False),
        _obj("FlowDefinitionView", "300", [
            F("ApiName", "string", length=80), F("Label", "string", length=255),
            F("ProcessType", "string", length=40), F("TriggerType", "string", length=40),
            F("TriggerObjectOrEventLabel", "string", length=255), F("IsActive", "boolean"),
            F("Description", "string", length=255),
        ], audit=False, createable=False, allows_custom_fields=False),
    ]
    # The Tooling API's metadata objects (served under /tooling/ only).
    objects += [
        _obj("CustomField", "00N", [
            F("DeveloperName", "string", length=80), F("TableEnumOrId", "string", length=80),
            F("FullName", "string", length=255), F("NamespacePrefix", "string", length=15),
        ], audit=False, tooling=True, allows_custom_fields=False),
        _obj("CustomObject", "01I", [
            F("DeveloperName", "string", length=80), F("NamespacePrefix", "string", length=15),
        ], audit=False, tooling=True, allows_custom_fields=False),
        _obj("EntityDefinition", "0En", [
            F("QualifiedApiName", "string", length=80), F("DeveloperName", "string", length=80),
            F("DurableId", "string", length=80), F("KeyPrefix", "string", length=3),
        ], audit=False, tooling=True, allows_custom_fields=False),
        _obj("ValidationRule", "03d", [
            F("ValidationName", "string", length=80), F("Active", "boolean"),
            F("EntityDefinitionId", "string", length=80), F("ErrorMessage", "string", length=255),
            F("ErrorDisplayField", "string", length=80), F("Description", "string", length=255),
        ], audit=False, tooling=True, allows_custom_fields=False),
        _obj("WorkflowRule", "01Q", [
            F("Name", "string", length=80), F("TableEnumOrId", "string", length=80),
        ], audit=False, tooling=True, allows_custom_fields=False),
        _obj("ApexTrigger", "01q", [
            F("Name", "string", length=255), F("TableEnumOrId", "string", length=80),
            _picklist("Status", ("Active", "Inactive", "Deleted")), F("UsageBeforeInsert", "boolean"),
            F("UsageAfterInsert", "boolean"), F("UsageBeforeUpdate", "boolean"), F("UsageAfterUpdate", "boolean"),
        ], audit=False, tooling=True, allows_custom_fields=False),
    ]
    return objects


DATA_CATEGORIES = [{
    "name": "Topics", "label": "Topics", "active": True, "objectUsage": "KnowledgeArticleVersion",
    "topCategories": [{"name": "All", "label": "All", "childCategories": [
        {"name": "Billing", "label": "Billing", "childCategories": []},
        {"name": "Shipping", "label": "Shipping", "childCategories": []},
        {"name": "Returns", "label": "Returns", "childCategories": []},
        {"name": "Account", "label": "Account", "childCategories": []},
        {"name": "Technical", "label": "Technical", "childCategories": [
            {"name": "Setup", "label": "Setup", "childCategories": []},
            {"name": "Troubleshooting", "label": "Troubleshooting", "childCategories": []},
        ]},
    ]}],
}]


def apply_behaviour(org: Org, behaviour: OrgBehaviour) -> None:
    """Switch the org to the chosen profile's behaviour (emulator_profiles.py)."""
    org.objects["Case"].fields["ClosedDate"].audit = behaviour.closed_date_createable
    org.enhanced_email = behaviour.enhanced_email
    email = org.objects["EmailMessage"]
    if not behaviour.enhanced_email and "RelatedToId" in email.fields:
        # RelatedToId comes with Enhanced Email; without it describe does not list the field.
        del email.fields["RelatedToId"]
        email.reindex()


def build_org(*, seed: int = 42, size: int = 100, existing: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
              api_limit: int = 100_000, audit_fields: bool = True, inactive_owners: bool = True,
              knowledge: bool = True, validation_rules: Sequence[ValidationRule] | None = None) -> Org:
    """A deterministic org: the same (seed, size, options) give the same records and ids."""
    from faker import Faker

    rnd = random.Random(seed)
    fake = Faker(["en_US", "nl_NL"])
    fake.seed_instance(seed)
    org = Org(standard_objects(), org_id=f"00D5g{seed % 100000:05d}EMU", api_limit=api_limit)
    org.knowledge_enabled = knowledge
    org.data_category_groups = [dict(g) for g in DATA_CATEGORIES]
    domain = "acme-support.example"
    seed_ = org_seed = _Seeder(org)
    org_seed.put("Organization", {"Name": "Acme Support (emulated)", "IsSandbox": False,
                                  "OrganizationType": "Enterprise Edition"})
    admin_profile = seed_.put("Profile", {"Name": "System Administrator"})
    agent_profile = seed_.put("Profile", {"Name": "Custom: Support Profile"})
    admin = seed_.user("Ada", "Admin", f"admin@{domain}", profile=admin_profile, alias="aadmin")
    org.current_user_id = admin
    admin_ps = seed_.put("PermissionSet", {
        "Name": "X00e_System_Administrator", "Label": "System Administrator", "IsOwnedByProfile": True,
        "ProfileId": admin_profile, "PermissionsModifyAllData": True, "PermissionsViewAllData": True,
        "PermissionsManageUsers": True, "PermissionsCreateAuditFields": audit_fields,
        "PermissionsUpdateWithInactiveOwner": inactive_owners})
    seed_.put("PermissionSetAssignment", {"AssigneeId": admin, "PermissionSetId": admin_ps})
    seed_.put("PermissionSet", {"Name": "Service_Agent", "Label": "Service Agent"})
    # Other Users already in the org, a fifth of them deactivated.
    for _ in range(size // 20 + 2):
        first, last = fake.first_name(), fake.last_name()
        seed_.user(first, last, f"{first}.{last}@{domain}".lower().replace(" ", ""), profile=agent_profile,
                   active=rnd.random() > 0.2)
    for agent in (existing or {}).get("agents", []):
        first = agent.get("first_name") or (agent.get("name") or "").split(" ")[0] or None
        last = agent.get("last_name") or (agent.get("name") or agent["email"]).split(" ")[-1]
        # Real orgs often hold the address in another case than the helpdesk did.
        email = agent["email"].upper() if rnd.random() < 0.2 else agent["email"]
        seed_.user(first, last, email, profile=agent_profile, active=bool(agent.get("is_active", True)))
    accounts = [seed_.put("Account", {"Name": fake.company()}) for _ in range(size // 10 + 2)]
    # Contacts already in the org: the duplicate rule and email linking meet them.
    for i in range(size // 2):
        first, last = fake.first_name(), fake.last_name()
        email = fake.unique.email() if i % 6 else None
        if email and i % 9 == 0:
            email = email.upper()
        values = {"FirstName": first, "LastName": last, "Email": email, "Phone": fake.phone_number()[:40],
                  "AccountId": rnd.choice(accounts) if i % 3 == 0 else None}
        seed_.put("Contact", values)
        if email and i % 15 == 1:
            seed_.put("Contact", {**values, "FirstName": fake.first_name()})  # same email twice: ambiguous
    for contact in (existing or {}).get("contacts", []):
        seed_.put("Contact", {"FirstName": contact.get("first_name"),
                              "LastName": contact.get("last_name") or contact.get("name") or "Unknown",
                              "Email": contact.get("email"), "Phone": contact.get("phone")})
    tier2 = seed_.put("Group", {"Name": "Tier 2 Support", "DeveloperName": "Tier_2_Support", "Type": "Queue"})
    seed_.put("QueueSobject", {"QueueId": tier2, "SobjectType": "Case"})
    for team in (existing or {}).get("teams", []):
        dev = "".join(c if c.isalnum() else "_" for c in team["name"]).strip("_") or "Queue"
        qid = seed_.put("Group", {"Name": team["name"][:40], "DeveloperName": dev, "Type": "Queue"})
        seed_.put("QueueSobject", {"QueueId": qid, "SobjectType": "Case"})
    # Fields the org's admin created long before the migration (a field map can point custom values at them).
    for obj, name, meta in ADMIN_FIELDS:
        _add_custom_field(seed_, obj, name, meta)
    for dev, label in (("Email_Support", "Email Support"), ("Chat_Support", "Chat Support"),
                       ("Phone_Support", "Phone Support")):
        seed_.put("RecordType", {"Name": label, "DeveloperName": dev, "SobjectType": "Case", "IsActive": True})
    # Cases that were here before the migration (ours are told apart by their external id).
    contacts = list(org.records["Contact"])
    for _ in range(size // 10 + 1):
        seed_.put("Case", {"Subject": fake.sentence(nb_words=5)[:255], "Status": rnd.choice(["New", "Closed"]),
                           "Origin": "Phone", "ContactId": rnd.choice(contacts) if contacts else None,
                           "OwnerId": admin, "CaseNumber": f"{len(org.records['Case']) + 1:08d}"})
    rules = list(validation_rules) if validation_rules is not None else [
        ValidationRule("Escalated_Case_Needs_Priority", "Case", "An escalated case needs a priority.",
                       [("IsEscalated", "=", True), ("Priority", "blank", None)], "Priority",
                       formula="AND(IsEscalated, ISBLANK(TEXT(Priority)))"),
        ValidationRule("Email_Or_Phone_Required", "Contact", "A contact needs an email address or a phone number.",
                       [("Email", "blank", None), ("Phone", "blank", None), ("MobilePhone", "blank", None)],
                       active=False, formula="AND(ISBLANK(Email), ISBLANK(Phone), ISBLANK(MobilePhone))"),
    ]
    for rule in rules:
        add_validation_rule(org, rule)
    for name, table in (("Notify_Owner_New_Case", "Case"), ("Contact_Update_Stamp", "Contact")):
        seed_.put("WorkflowRule", {"Name": name, "TableEnumOrId": table})
    for name, table, active in (("CaseTrigger", "Case", "Active"), ("EmailMessageTrigger", "EmailMessage", "Active"),
                                ("ContactTrigger", "Contact", "Inactive")):
        seed_.put("ApexTrigger", {"Name": name, "TableEnumOrId": table, "Status": active, "UsageBeforeInsert": True,
                                  "UsageAfterInsert": True, "UsageBeforeUpdate": False, "UsageAfterUpdate": True})
    for api, label, obj, active in (("Case_Assignment_Flow", "Case assignment", "Case", True),
                                    ("Contact_Welcome_Email", "Contact welcome email", "Contact", True),
                                    ("Old_Case_Escalation", "Old case escalation", "Case", False)):
        seed_.put("FlowDefinitionView", {"ApiName": api, "Label": label, "ProcessType": "AutoLaunchedFlow",
                                         "TriggerType": "RecordAfterSave", "TriggerObjectOrEventLabel": obj,
                                         "IsActive": active})
    for dev, obj in (("Standard_Contact_Duplicate_Rule", "Contact"), ("Standard_Account_Duplicate_Rule", "Account")):
        seed_.put("DuplicateRule", {"DeveloperName": dev, "MasterLabel": dev.replace("_", " "), "SobjectType": obj,
                                    "IsActive": True})
    for tag in (existing or {}).get("tags", []):
        seed_.tag_value(tag)
    from .tooling import seed_entity_definitions

    seed_entity_definitions(org)  # last: the records seeded above keep their ids and times
    return org


ADMIN_FIELDS = (
    ("Contact", "Customer_Number__c", {"label": "Customer Number", "type": "Text", "length": 40}),
    ("Case", "Order_Number__c", {"label": "Order Number", "type": "Text", "length": 40}),
)


def _add_custom_field(seed: _Seeder, obj_name: str, name: str, meta: Mapping[str, Any]) -> None:
    from .tooling import field_from_metadata

    org = seed.org
    org.objects[obj_name].add_field(field_from_metadata(name, meta))
    org.add_index(obj_name, name)
    seed.put("CustomField", {"DeveloperName": name[:-3], "TableEnumOrId": obj_name, "FullName": f"{obj_name}.{name}"})


def add_validation_rule(org: Org, rule: ValidationRule) -> None:
    org.validation_rules.append(rule)
    _Seeder(org).put("ValidationRule", {"ValidationName": rule.name, "Active": rule.active,
                                        "EntityDefinitionId": rule.object, "ErrorMessage": rule.message,
                                        "ErrorDisplayField": rule.error_field, "Description": rule.formula})


class _Seeder:
    """Writes records the way the org's own setup would: no API validation, no API calls counted."""

    def __init__(self, org: Org):
        self.org = org

    def put(self, obj: str, values: Mapping[str, Any]) -> str:
        org = self.org
        o = org.objects[obj]
        rid = org.ids.next(o.prefix)
        # Seeded history on a fixed clock, so the same seed gives byte-identical orgs.
        n = sum(org.ids.counters.values())
        stamp = format_datetime(SEED_EPOCH + timedelta(minutes=37 * n))
        rec = {k: v for k, v in values.items() if v is not None}
        for f in o.fields.values():
            if f.name not in rec and f.type == "boolean":
                rec[f.name] = bool(f.default)
            elif f.name not in rec and f.defaulted and f.default is not None:
                rec[f.name] = f.default
        rec.update({"Id": rid, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
                    "CreatedById": org.current_user_id or None, "LastModifiedById": org.current_user_id or None,
                    "IsDeleted": False})
        if "OwnerId" in o.fields and not rec.get("OwnerId"):
            rec["OwnerId"] = org.current_user_id or None
        if obj in ("Contact", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if obj == "Case":
            rec["IsClosed"] = rec.get("Status") == "Closed"
        org._store(o, rid, rec)
        return rid

    def user(self, first: str | None, last: str, email: str, *, profile: str, active: bool = True,
             alias: str | None = None) -> str:
        existing = {u.get("Username") for u in self.org.records["User"].values()}
        username = email.lower()
        n = 1
        while username in existing:
            n += 1
            username = f"{email.lower()}.{n}"
        return self.put("User", {"FirstName": first, "LastName": last, "Email": email, "Username": username,
                                 "Alias": (alias or ((first or "")[:1] + last)[:8]).lower(), "IsActive": active,
                                 "ProfileId": profile})

    def tag_value(self, tag: Mapping[str, Any]) -> None:
        """A tag the org already knows: a value on the migration's tag picklist (created if absent)."""
        from ..schema import tag_field_spec
        from .tooling import field_from_metadata

        spec = tag_field_spec(tag.get("applies_to") or "conversation", "Trengo")  # the demo pair's source
        obj = self.org.objects[spec.object]
        if obj.field(spec.name) is None:
            obj.add_field(field_from_metadata(spec.name, spec.metadata))
            self.org.add_index(spec.object, spec.name)
            self.put("CustomField", {"DeveloperName": spec.name[:-3], "TableEnumOrId": spec.object,
                                     "FullName": f"{spec.object}.{spec.name}"})
        f = obj.fields[spec.name]
        if all(v["value"] != tag["name"] for v in f.picklist):
            f.picklist.append({"active": True, "defaultValue": False, "label": tag["name"], "value": tag["name"],
                               "validFor": None})
