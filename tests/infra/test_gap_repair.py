"""The gap repair as deployed: scheduled with a dead-letter queue, writing only its own records."""

from __future__ import annotations

from aws_cdk.assertions import Match


def _statements(stack, template, function):
    role = stack.get_logical_id(function.role.node.default_child)
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_repair_runs_every_five_minutes_with_a_dead_letter_queue(synthesized):
    stack, template, _ = synthesized
    function = stack.get_logical_id(stack.repair.function.node.default_child)
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Target": Match.object_like(
                {"Arn": {"Fn::GetAtt": [function, "Arn"]}, "DeadLetterConfig": Match.object_like({})}
            ),
        },
    )


def test_the_repair_writes_gap_records_and_reconstructions_only(synthesized):
    """Its coverage-table writes are limited to the `_gaps` partition (dynamodb:LeadingKeys); on the events table it
    may put and read items, never update or delete (the archive would call that tampering)."""
    stack, template, _ = synthesized
    statements = _statements(stack, template, stack.repair.function)
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not {a for a in actions if a.startswith("dynamodb:") and ("Update" in a or "Delete" in a)}
    coverage = stack.get_logical_id(stack.store.coverage.node.default_child)
    (gaps,) = [
        s
        for s in statements
        if s["Action"] == "dynamodb:PutItem" and s["Resource"] == {"Fn::GetAtt": [coverage, "Arn"]}
    ]
    assert gaps["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["_gaps"]}}


def test_the_auditor_can_classify_gaps_from_the_events_table(synthesized):
    stack, template, _ = synthesized
    function = stack.get_logical_id(stack.auditor.function.node.default_child)
    env = template.to_json()["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert "EVENTS_TABLE" in env
