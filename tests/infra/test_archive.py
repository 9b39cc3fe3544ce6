"""The write-once archive as deployed: rules of S3 Object Lock, KMS and Lambda's stream event sources that no local
stand-in enforces, pinned with their sources."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from evidence.coverage import JUDGED_PREFIX
from tests.infra.conftest import BRIDGE, synth


def _one(template: Template, kind: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
    found = template.find_resources(kind, {"Properties": where} if where else None)
    assert len(found) == 1, sorted(found)
    return dict(next(iter(found.values())))


def archive_bucket(template: Template) -> dict[str, Any]:
    return _one(template, "AWS::S3::Bucket", {"ObjectLockEnabled": True})


def test_the_archive_bucket_locks_every_version_in_compliance_mode_for_seven_years_by_default(template):
    """S3 User Guide, "Locking objects with Object Lock": Object Lock works only in versioned buckets; a bucket's
    default retention applies to every new version; in compliance mode no user, root included, can overwrite or
    delete a locked version or shorten its retention."""
    props = archive_bucket(template)["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2557}},
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "LoggingConfiguration" in props


def test_governance_mode_and_retention_come_from_the_configuration(tmp_path):
    """Given archive.mode governance and 30 days (a test stack), the bucket's default retention says so, and the
    compliance-only deny on deleting versions is absent (governance lets a privileged principal clean up)."""
    _, template, _ = synth({**BRIDGE, "archive": {"mode": "governance", "retention_days": 30}}, tmp_path)
    rule = archive_bucket(template)["Properties"]["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}
    policies = template.find_resources("AWS::S3::BucketPolicy")
    sids = {s.get("Sid") for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]}
    assert "DenyDeletingArchivedVersions" not in sids


def test_the_archive_bucket_refuses_plain_http_and_version_deletion(template):
    """S3 User Guide, "Enforce encryption in transit": a Deny on aws:SecureTransport false refuses HTTP."""
    logical = next(iter(template.find_resources("AWS::S3::Bucket", {"Properties": {"ObjectLockEnabled": True}})))
    policy = _one(template, "AWS::S3::BucketPolicy", {"Bucket": {"Ref": logical}})
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    tls = [s for s in statements if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Action"] == "s3:*"
    (deny,) = [s for s in statements if s.get("Sid") == "DenyDeletingArchivedVersions"]
    assert deny["Effect"] == "Deny" and "s3:DeleteObjectVersion" in deny["Action"]


def test_the_signing_key_is_asymmetric_p256_and_only_the_archiver_may_sign(template):
    """KMS Developer Guide: an ECC_NIST_P256 key with KeyUsage SIGN_VERIFY signs with ECDSA_SHA_256; in a key
    policy an explicit Deny overrides every Allow, so a Deny of kms:Sign for every principal but the archiver's
    role holds whatever identity policies say (aws:PrincipalArn of an assumed role is the role's ARN)."""
    key = _one(template, "AWS::KMS::Key", {"KeySpec": "ECC_NIST_P256"})
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (deny,) = [s for s in statements if s.get("Sid") == "OnlyTheArchiverSigns"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "kms:Sign" and deny["Principal"] == {"AWS": "*"}
    archiver_role = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]["Fn::GetAtt"][0]
    assert archiver_role.startswith("ArchiveArchiverServiceRole")
    signers = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "kms:Sign" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert [r["Ref"] for p in signers for r in p["Properties"]["Roles"]] == [archiver_role]


def test_the_archiver_reads_the_events_stream_resending_from_the_failed_record_with_a_dead_letter_queue(template):
    """Lambda Developer Guide, "Using Lambda with DynamoDB": with ReportBatchItemFailures the function returns the
    failed record's sequence number and Lambda resends from it; an on-failure destination receives a batch that
    exhausted its retries; bisecting is off because a split batch would rename its segments."""
    tables = template.find_resources("AWS::DynamoDB::Table")
    events = next(k for k, t in tables.items() if t["Properties"]["KeySchema"][0]["AttributeName"] == "pk")
    for table in tables.values():
        assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    mapping = _one(
        template, "AWS::Lambda::EventSourceMapping", {"EventSourceArn": {"Fn::GetAtt": [events, "StreamArn"]}}
    )["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is False
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["MaximumRetryAttempts"] == 10
    assert "OnFailure" in mapping["DestinationConfig"]


def test_the_coverage_stream_reaches_the_archiver_only_for_the_auditor_s_verdicts(template):
    """Lambda Developer Guide, "Filtering events from DynamoDB event sources": a filter pattern on
    dynamodb.Keys drops every other record before an invocation (sessions and heartbeats are written every few s)."""
    tables = template.find_resources("AWS::DynamoDB::Table")
    coverage = next(k for k, t in tables.items() if t["Properties"]["KeySchema"][0]["AttributeName"] == "shard")
    mapping = _one(
        template, "AWS::Lambda::EventSourceMapping", {"EventSourceArn": {"Fn::GetAtt": [coverage, "StreamArn"]}}
    )["Properties"]
    (pattern,) = mapping["FilterCriteria"]["Filters"]
    assert '"prefix":"' + JUDGED_PREFIX + '"' in pattern["Pattern"].replace(" ", "")
    assert '"eventName":["INSERT"]' in pattern["Pattern"].replace(" ", "")


def test_the_archiver_may_add_versions_but_never_delete_and_writes_only_its_chain_in_the_ledger(synthesized):
    stack, template, _ = synthesized
    role = stack.get_logical_id(stack.archive.function.role.node.default_child)
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not {a for a in actions if "Delete" in a or (a.endswith("*") and a.startswith("s3"))}
    (put,) = [s for s in statements if s["Action"] == "dynamodb:PutItem"]
    assert put["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["_archive"]}}


def test_table_tampering_pages_and_the_outputs_name_the_archive(template):
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "TableTampered", "Threshold": 0, "Dimensions": [{"Name": "service", "Value": "archiver"}]},
    )
    outputs = template.find_outputs("*")
    assert {"ArchiveBucket", "ArchiveSigningKey", "ArchivePublicKey"} <= set(outputs)


def test_the_archive_can_be_turned_off(tmp_path):
    _, template, _ = synth({**BRIDGE, "archive": {"enabled": False}}, tmp_path)
    assert not template.find_resources("AWS::S3::Bucket", {"Properties": {"ObjectLockEnabled": True}})
    template.resource_properties_count_is("AWS::DynamoDB::Table", {"StreamSpecification": Match.any_value()}, 0)
