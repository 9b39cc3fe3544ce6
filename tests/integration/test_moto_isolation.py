"""The local stand-in keeps DynamoDB's documented isolation: conditional writes and transactions from many threads
at once never both pass one condition (DynamoDB Developer Guide, "Isolation levels for DynamoDB transactions")."""

from __future__ import annotations

import sys
import threading
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.slow
THREADS = 8


def table(client) -> str:
    client.create_table(
        TableName="isolation",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "isolation"


def test_transactions_that_move_one_head_at_once_never_take_the_same_sequence(aws):
    """Given eight threads each moving a counter item forward 25 times with a transaction conditioned on the value
    each read, when they run at once, then every successful move took a distinct value: the final value equals the
    number of moves that succeeded (two passing one condition would leave it short)."""
    client = boto3.client("dynamodb")
    name = table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "head"}, "n": {"N": "0"}})
    taken: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def move() -> None:
        mine = boto3.client("dynamodb")
        start.wait()
        for _ in range(25):
            seen = int(mine.get_item(TableName=name, Key={"pk": {"S": "head"}}, ConsistentRead=True)["Item"]["n"]["N"])
            try:
                mine.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": name, "Item": {"pk": {"S": f"taken#{seen + 1}"}}}},
                        {
                            "Put": {
                                "TableName": name,
                                "Item": {"pk": {"S": "head"}, "n": {"N": str(seen + 1)}},
                                "ConditionExpression": "n = :seen",
                                "ExpressionAttributeValues": {":seen": {"N": str(seen)}},
                            }
                        },
                    ]
                )
            except ClientError as exc:
                failures.append(exc.response["Error"]["Code"])
                continue
            with lock:
                taken[seen + 1] += 1

    threads = [threading.Thread(target=move) for _ in range(THREADS)]
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads (the server's among them) switch often: a race shows at once, not by luck
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(switching)
    assert not any(thread.is_alive() for thread in threads)
    final = int(client.get_item(TableName=name, Key={"pk": {"S": "head"}})["Item"]["n"]["N"])
    assert [value for value, count in taken.items() if count > 1] == []
    assert final == sum(taken.values()) > 0
    assert set(failures) <= {"TransactionCanceledException"}
