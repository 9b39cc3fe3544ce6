import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.fastjson import canonical
from evidence.frames import FrameKind, classify, excerpt
from evidence.keys import envelope_key, event_key

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.text(max_size=6), json_values, max_size=6)
topics = st.from_regex(r"v2\.users\.[a-z0-9]{1,8}\.presence", fullmatch=True)
correlations = st.uuids().map(str)


def _reordered(body: dict) -> dict:
    return {k: _reordered(v) if isinstance(v, dict) else v for k, v in reversed(list(body.items()))}


@given(topic=topics, body=bodies, correlation=correlations, indent=st.sampled_from([None, 1, 4]))
def test_key_order_and_whitespace_never_change_the_event_key(topic, body, correlation, indent):
    # Given the same envelope serialized with another key order and whitespace
    original = {"topicName": topic, "eventBody": body, "metadata": {"CorrelationId": correlation}}
    text = json.dumps(
        {"metadata": original["metadata"], "eventBody": _reordered(body), "topicName": topic}, indent=indent
    )
    # When both are classified and keyed
    again = classify(text)
    # Then the key is the same
    assert again.kind is FrameKind.EVENT
    assert envelope_key(again.envelope) == envelope_key(original)


@given(topic=topics, body=bodies, other=st.text(min_size=1, max_size=5))
def test_any_change_to_topic_or_body_changes_the_key(topic, body, other):
    key = event_key(topic, body)
    assert event_key(topic + "." + other, body) != key
    assert event_key(topic, {**body, "\x00extra": other}) != key


@given(topic=topics, body=bodies, correlation=correlations, other=correlations)
def test_the_two_paths_copies_share_a_key_whatever_the_correlation_id(topic, body, correlation, other):
    """Given one notification with one CorrelationId on the websocket and another on EventBridge, one key."""
    websocket = {"topicName": topic, "eventBody": body, "metadata": {"CorrelationId": correlation}}
    eventbridge = {**websocket, "metadata": {"CorrelationId": other}, "timestamp": "2026-12-01T10:00:00.000Z"}
    assert envelope_key(websocket) == envelope_key(eventbridge)


def test_canonical_json_is_sorted_and_compact():
    assert canonical({"b": 1, "a": {"d": [1, 2], "c": None}}) == b'{"a":{"c":null,"d":[1,2]},"b":1}'


def test_missing_correlation_id_is_keyed_consistently():
    envelope = {"topicName": "v2.users.u.presence", "eventBody": {"a": 1}}
    assert envelope_key(envelope) == event_key("v2.users.u.presence", {"a": 1})


def _frame(topic: str, body: object) -> str:
    return json.dumps({"topicName": topic, "eventBody": body})


def test_every_frame_kind_is_recognised():
    cases = {
        _frame("channel.metadata", {"message": "WebSocket Heartbeat"}): FrameKind.HEARTBEAT,
        _frame("channel.metadata", {"message": "pong"}): FrameKind.PONG,
        _frame("v2.system.socket_closing", {}): FrameKind.SOCKET_CLOSING,
        _frame("v2.system.no_longer_subscribed.ch1", {}): FrameKind.NO_LONGER_SUBSCRIBED,
        _frame("v2.system.token_revoked.ch1", {}): FrameKind.TOKEN_REVOKED,
        json.dumps({"result": "200", "status": "subscribed"}): FrameKind.SUBSCRIBE_RESULT,
        json.dumps({"result": "404", "status": "channel not found"}): FrameKind.NOT_FOUND,
        _frame("v2.users.u1.presence", {"id": "u1"}): FrameKind.EVENT,
        "{not json": FrameKind.MALFORMED,
        "[1, 2]": FrameKind.MALFORMED,
        json.dumps({"eventBody": {}}): FrameKind.MALFORMED,
        json.dumps({"topicName": "v2.users.u1.presence"}): FrameKind.MALFORMED,
        _frame("channel.metadata", {"message": "something else"}): FrameKind.MALFORMED,
    }
    for raw, kind in cases.items():
        assert classify(raw).kind is kind, raw


def test_bytes_frames_are_decoded_and_malformed_ones_say_why():
    frame = classify(b"\xff\xfe not json")
    assert frame.kind is FrameKind.MALFORMED
    assert frame.reason == "not valid JSON"
    assert not frame.confirms_liveness


def test_excerpt_truncates_long_text_and_says_how_much_was_cut():
    assert excerpt("x" * 10, limit=4) == "xxxx...(+6 chars)"
    assert excerpt("short") == "short"


@pytest.mark.parametrize(
    "raw",
    [
        '{"topicName": "v2.users.\\ud83d.presence", "eventBody": {}}',
        '{"topicName": "v2.users.u.presence", "eventBody": {"name": "\\udc00x"}}',
        '{"topicName": "v2.users.u.presence", "eventBody": {"\\ud83d": 1}}',
    ],
)
def test_a_lone_surrogate_anywhere_makes_the_frame_malformed_and_its_text_is_kept(raw):
    """Given a frame whose JSON escapes a lone surrogate (in the topic, a value or a key), it is malformed, never an
    event whose attributes the store cannot encode, and its raw text (valid UTF-8) is what quarantine keeps."""
    frame = classify(raw)
    assert frame.kind is FrameKind.MALFORMED
    assert "lone surrogate" in frame.reason
    assert frame.raw.encode("utf-8") == raw.encode("utf-8")


def test_a_valid_surrogate_pair_is_an_ordinary_event():
    """Given an escaped surrogate pair (an emoji), the frame is an event like any other."""
    frame = classify('{"topicName": "v2.users.u.presence", "eventBody": {"m": "\\ud83d\\ude00"}}')
    assert frame.kind is FrameKind.EVENT
    assert frame.envelope["eventBody"]["m"] == "\U0001f600"
