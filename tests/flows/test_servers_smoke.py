"""The session's moto and Tansu answer the real SDKs through the blocks' clients."""

from __future__ import annotations

from confluent_kafka.admin import NewTopic

from blocks import AwsAccount, KafkaCluster


def test_moto_answers_boto3_through_the_block(aws_account: AwsAccount) -> None:
    s3 = aws_account.get_client("s3")
    s3.create_bucket(Bucket="smoke-bucket")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["smoke-bucket"]


def test_tansu_answers_the_admin_client_through_the_block(kafka_cluster: KafkaCluster) -> None:
    admin = kafka_cluster.get_admin_client()
    admin.create_topics([NewTopic("smoke.test.events", 1, 1)])["smoke.test.events"].result(10)
    assert "smoke.test.events" in admin.list_topics(timeout=10).topics
