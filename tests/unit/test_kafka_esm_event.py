"""The Kafka event source mapping's pure parts: template properties, events and failure records,
checked against the AWS-published samples in tests/events/ byte for byte where the inputs allow."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from local.emulator.kafka_esm import (
    MAX_PAYLOAD_BYTES,
    FailureContext,
    KafkaRecord,
    MappingConfig,
    batch_failure_record,
    build_event,
    envelope_size,
    infer_event_type,
    kafka_destination_messages,
    record_size,
)

EVENTS = Path(__file__).resolve().parent.parent / "events"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:leaderboard"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def config(properties: dict[str, Any], *, bootstrap: str = "127.0.0.1:9092", function: str = "leaderboard") -> MappingConfig:
    return MappingConfig.from_properties(function_name=function, properties=properties, event_type=None, bootstrap_servers=bootstrap)


def records_of(event: dict[str, Any]) -> list[KafkaRecord]:
    """The sample's records decoded back into what a consumer would have read."""
    out = []
    for recs in event["records"].values():
        for r in recs:
            out.append(
                KafkaRecord(
                    topic=r["topic"],
                    partition=r["partition"],
                    offset=r["offset"],
                    timestamp=r["timestamp"],
                    timestamp_type=r["timestampType"],
                    key=base64.b64decode(r["key"]) if "key" in r else None,
                    value=base64.b64decode(r["value"]) if "value" in r else None,
                    headers=tuple((name, bytes(v)) for h in r["headers"] for name, v in h.items()),
                )
            )
    return out


def assert_same_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Same keys in the same order and the same JSON types, recursively."""
    assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} != {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{path}: keys {list(ours)} != {list(theirs)}"
        for key in theirs:
            assert_same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} items != {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_shape(a, b, f"{path}[{i}]")


# ---- event parity with the AWS samples ------------------------------------------------------------


def test_msk_event_matches_the_aws_sample_byte_for_byte() -> None:
    aws = sample("kafka-msk")
    cfg = config(
        {"Stream": aws["eventSourceArn"], "Topics": ["AWSKafkaTopic"], "StartingPosition": "TRIM_HORIZON"},
        bootstrap=aws["bootstrapServers"],
    )
    ours = build_event(cfg, records_of(aws))
    assert_same_shape(ours, aws)
    assert ours == aws
    assert json.dumps(ours) == json.dumps(aws)


def test_self_managed_event_matches_the_aws_sample_but_for_the_documented_event_source() -> None:
    # The sample is an older copy that says "aws:SelfManagedKafka"; AWS's current example event (and what
    # functions receive) says "SelfManagedKafka": https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html
    aws = sample("kafka-self-managed")
    assert aws["eventSource"] == "aws:SelfManagedKafka"
    aws["eventSource"] = "SelfManagedKafka"
    cfg = config({"KafkaBootstrapServers": aws["bootstrapServers"].split(","), "Topics": ["mytopic"], "StartingPosition": "LATEST"})
    assert cfg.event_type == "SelfManagedKafka"
    ours = build_event(cfg, records_of(aws))
    assert_same_shape(ours, aws)
    assert ours == aws
    assert "eventSourceArn" not in ours
    assert json.dumps(ours) == json.dumps(aws)


def test_headers_are_byte_arrays_and_any_bytes_survive() -> None:
    cfg = config({"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["t"]})
    record = KafkaRecord(
        "t", 0, 7, 1, "CREATE_TIME", b"k", b"\x00\xff", headers=(("h", b"\x00\x01\xfe\xff"), ("trace", b"abc"), ("empty", b""))
    )
    [out] = build_event(cfg, [record])["records"]["t-0"]
    assert out["headers"] == [{"h": [0, 1, 254, 255]}, {"trace": [97, 98, 99]}, {"empty": []}]
    assert base64.b64decode(out["value"]) == b"\x00\xff"


def test_null_key_and_null_value_are_left_out_and_no_headers_is_an_empty_list() -> None:
    cfg = config({"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["t"]})
    keyed = KafkaRecord("t", 0, 0, 1, "CREATE_TIME", b"quiz-1", b"v")
    unkeyed = KafkaRecord("t", 0, 1, 2, "CREATE_TIME", None, b"v")
    tombstone = KafkaRecord("t", 0, 2, 3, "LOG_APPEND_TIME", b"quiz-1", None)
    a, b, c = build_event(cfg, [keyed, unkeyed, tombstone])["records"]["t-0"]
    assert a["key"] == base64.b64encode(b"quiz-1").decode()
    assert "key" not in b and b["value"] == base64.b64encode(b"v").decode()
    assert "value" not in c and c["timestampType"] == "LOG_APPEND_TIME"
    assert a["headers"] == b["headers"] == c["headers"] == []


def test_records_are_grouped_by_topic_partition_in_offset_order() -> None:
    cfg = config({"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["scores", "other"]})
    shuffled = [
        KafkaRecord(t, p, o, o, "CREATE_TIME", None, b"x")
        for t, p, o in [("scores", 1, 5), ("scores", 0, 3), ("scores", 1, 4), ("other", 0, 9), ("scores", 0, 2)]
    ]
    records = build_event(cfg, shuffled)["records"]
    assert list(records) == ["other-0", "scores-0", "scores-1"]
    assert [r["offset"] for r in records["scores-0"]] == [2, 3]
    assert [r["offset"] for r in records["scores-1"]] == [4, 5]
    assert all(r["topic"] == "scores" and r["partition"] == 1 for r in records["scores-1"])


def test_record_size_never_under_counts_the_event() -> None:
    cfg = config({"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["t"]})
    records = [
        KafkaRecord("t", p, o, 1_700_000_000_000 + o, "CREATE_TIME", b"key", bytes(range(256)) * 3, (("h", b"v"),))
        for p in range(3)
        for o in range(5)
    ]
    actual = len(json.dumps(build_event(cfg, records), separators=(",", ":")).encode())
    estimate = envelope_size(cfg) + sum(record_size(r) for r in records)
    assert actual <= estimate < actual * 1.1


# ---- template properties ------------------------------------------------------------------------


def test_defaults_are_aws_defaults() -> None:
    cfg = config({"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["t"]})
    assert cfg.event_type == "MSK"
    assert cfg.batch_size == 100
    assert cfg.batching_window_s == 0.5
    assert cfg.starting_position == "LATEST"
    assert cfg.maximum_retry_attempts == -1 and cfg.effective_retry_attempts == -1
    assert cfg.destination is None and cfg.enabled
    assert MAX_PAYLOAD_BYTES == 6 * 1024 * 1024


def test_default_group_is_a_stable_uuid_per_mapping() -> None:
    props = {"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["t"]}
    first, again, other = config(props), config(props), config(props, function="answers")
    assert uuid.UUID(first.consumer_group_id)
    assert first.consumer_group_id == again.consumer_group_id != other.consumer_group_id
    assert config({**props, "ConsumerGroupId": "leaderboard-esm"}).consumer_group_id == "leaderboard-esm"


def test_infinite_retries_become_ten_with_an_on_failure_destination() -> None:
    props: dict[str, Any] = {"Stream": "arn:aws:kafka:us-east-1:1:cluster/c/x", "Topics": ["t"]}
    dlt = {"DestinationConfig": {"OnFailure": {"Destination": "kafka://t.failed"}}}
    assert config({**props, **dlt}).effective_retry_attempts == 10
    assert config({**props, **dlt, "MaximumRetryAttempts": 2}).effective_retry_attempts == 2
    assert config({**props, **dlt}).destination is not None
    sqs = config({**props, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}})
    assert sqs.destination is not None and sqs.destination.kind == "arn"


def test_at_timestamp_reads_seconds() -> None:
    cfg = config({"Stream": "arn:x", "Topics": ["t"], "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1700000000.25})
    assert cfg.starting_position_timestamp_ms == 1_700_000_000_250


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Stream": "arn:x", "Topics": []}, "Topics"),
        ({"Stream": "arn:x", "Topics": ["t"], "BatchSize": 0}, "BatchSize"),
        ({"Stream": "arn:x", "Topics": ["t"], "BatchSize": 10_001}, "BatchSize"),
        ({"Stream": "arn:x", "Topics": ["t"], "MaximumBatchingWindowInSeconds": 301}, "MaximumBatchingWindowInSeconds"),
        ({"Stream": "arn:x", "Topics": ["t"], "StartingPosition": "EARLIEST"}, "StartingPosition"),
        ({"Stream": "arn:x", "Topics": ["t"], "StartingPosition": "AT_TIMESTAMP"}, "StartingPositionTimestamp"),
        ({"Stream": "arn:x", "Topics": ["t"], "DestinationConfig": {"OnFailure": {"Destination": "kafka://t"}}}, "also a source topic"),
        ({"Stream": "arn:x", "Topics": ["t"], "DestinationConfig": {"OnFailure": {"Destination": "sqs-queue"}}}, "on-failure destination"),
        ({"Stream": "arn:x", "Topics": ["t"], "MaximumRetryAttempts": -2}, "MaximumRetryAttempts"),
    ],
)
def test_invalid_properties_fail_fast(properties: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(properties)


def test_msk_needs_its_cluster_arn_and_the_type_is_inferred_or_given() -> None:
    with pytest.raises(ValueError, match="Stream"):
        MappingConfig.from_properties(function_name="f", properties={"Topics": ["t"]}, event_type="MSK", bootstrap_servers="b:9092")
    with pytest.raises(ValueError, match="event_type"):
        infer_event_type({"Topics": ["t"]})
    smk = MappingConfig.from_properties(
        function_name="f", properties={"Topics": ["t"]}, event_type="SelfManagedKafka", bootstrap_servers="b:9092"
    )
    assert smk.event_bootstrap_servers == "b:9092"
    assert build_event(smk, [])["eventSource"] == "SelfManagedKafka"


# ---- on-failure records -------------------------------------------------------------------------

# The metadata AWS documents for a Kafka destination (kafka-on-failure-destination.html), keys in order.
KAFKA_DESTINATION_DOC = {
    "requestContext": ["requestId", "functionArn", "condition", "approximateInvokeCount"],
    "responseContext": ["statusCode", "executedVersion", "functionError"],
    "KafkaBatchInfo": ["batchSize", "eventSourceArn", "bootstrapServers", "payloadSize", "recordInfo"],
}


def test_kafka_destination_gets_one_message_per_record_in_the_documented_shape() -> None:
    aws = sample("kafka-msk")
    cfg = config({"Stream": aws["eventSourceArn"], "Topics": ["AWSKafkaTopic"]}, bootstrap=aws["bootstrapServers"])
    keyed = records_of(aws)[0]
    unkeyed = KafkaRecord("AWSKafkaTopic", 0, 1, 1595035749800, "CREATE_TIME", None, b"{}")
    messages = kafka_destination_messages(cfg, [unkeyed, keyed], FailureContext("RetryAttemptsExhausted", 3, FUNCTION_ARN))
    assert [key for key, _ in messages] == [keyed.key, None]  # the original key, so the same partitioning
    first = json.loads(messages[0][1])
    assert list(first) == ["requestContext", "responseContext", "version", "timestamp", "KafkaBatchInfo", "payload"]
    for section, keys in KAFKA_DESTINATION_DOC.items():
        assert list(first[section]) == keys
    assert first["requestContext"]["condition"] == "RetriesExhausted"
    assert first["requestContext"]["approximateInvokeCount"] == 3
    assert first["requestContext"]["functionArn"] == f"{FUNCTION_ARN}:$LATEST"
    assert first["version"] == "1.0" and first["timestamp"].endswith("Z")
    info = first["KafkaBatchInfo"]
    assert info["batchSize"] == 1 and info["eventSourceArn"] == aws["eventSourceArn"]
    assert info["recordInfo"] == {"offset": "0", "timestamp": "2020-07-18T01:29:09.700Z"}
    assert first["payload"] == aws  # the failed record itself, as the event carried it
    assert info["payloadSize"] == len(json.dumps(aws, separators=(",", ":")))


def test_an_oversized_record_has_no_response_context() -> None:
    cfg = config({"Stream": "arn:x", "Topics": ["t"]})
    [(_, body)] = kafka_destination_messages(
        cfg, [KafkaRecord("t", 0, 0, 1, "CREATE_TIME", None, b"x")], FailureContext("MaximumPayloadSizeExceeded", 0, FUNCTION_ARN)
    )
    document = json.loads(body)
    assert document["responseContext"] is None
    assert document["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"


def test_batch_failure_record_for_sqs_sns_s3_has_records_info_and_the_payload() -> None:
    cfg = config({"KafkaBootstrapServers": ["b-1:9092"], "Topics": ["t"]})
    records = [KafkaRecord("t", p, o, 1_000 * o, "CREATE_TIME", None, b"v") for p in (0, 1) for o in (4, 5, 6)]
    record = batch_failure_record(cfg, records, FailureContext("RetryAttemptsExhausted", 11, FUNCTION_ARN))
    assert list(record) == ["requestContext", "responseContext", "version", "timestamp", "KafkaBatchInfo", "payload"]
    info = record["KafkaBatchInfo"]
    assert info["batchSize"] == 6 and "eventSourceArn" not in info and info["bootstrapServers"] == "b-1:9092"
    assert info["recordsInfo"]["t-1"] == {
        "firstRecordOffset": "4",
        "lastRecordOffset": "6",
        "firstRecordTimestamp": "1970-01-01T00:00:04.000Z",
        "lastRecordTimestamp": "1970-01-01T00:00:06.000Z",
    }
    assert json.loads(record["payload"]) == build_event(cfg, records)
    assert info["payloadSize"] == len(record["payload"].encode())
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
