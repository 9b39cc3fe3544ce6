import pytest

from genesys.topics import entity_ids, expand_combined, expand_template, is_known_topic


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("v2.users.u-1.presence", {"user": "u-1"}),
        ("v2.users.u-1.conversations", {"user": "u-1"}),
        ("v2.routing.queues.q9.conversations", {"queue": "q9"}),
        ("v2.analytics.queues.q9.observations", {"queue": "q9"}),
        ("v2.detail.events.conversation.c7.acd.start", {"conversation": "c7"}),
        ("v2.audits.entitytype.user.entityid.e1", {"audit": "user/e1"}),
        ("v2.something.else", {}),
    ],
)
def test_entity_ids_come_from_the_topic_name(topic, expected):
    assert entity_ids(topic) == expected


def test_combined_topics_expand_to_full_names():
    assert expand_combined("v2.users.u1?presence&routingStatus") == [
        "v2.users.u1.presence",
        "v2.users.u1.routingStatus",
    ]
    assert expand_combined("v2.users.u1.presence") == ["v2.users.u1.presence"]


def test_known_topics_match_a_template_and_unknown_ones_do_not():
    assert is_known_topic("v2.users.u1?presence&routingStatus")
    assert not is_known_topic("v2.users.u1?presence&bogus")
    assert not is_known_topic("v2.detail.events.conversation.c1.not-an-event")
    assert not is_known_topic("v2.users..presence")


def test_templates_expand_over_ids_without_duplicates():
    assert expand_template("v2.users.{id}.presence", ["a", "b", "a"]) == ["v2.users.a.presence", "v2.users.b.presence"]
    with pytest.raises(ValueError, match=r"no \{id\}"):
        expand_template("v2.users.presence", ["a"])
