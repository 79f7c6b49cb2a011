"""The yardstick of issue 15: a naive scanner as a short Python script would be.

Usage: python3 naive-worker.py FILES WARMUP

What the issue measured the worker against when its work began ("a naive
sequential Python worker, boto3, one file at a time"), written for the benchmark
(bench/tagged-requests.ts runs it beside the worker, on the same moto, the same
files and the same proxy, plain and through TLS). One file at a time: receive up
to ten messages, and for each record of each message, GetObject, the body to clamd
with INSTREAM on a connection of its own, PutObjectTagging with the status tag,
the record forwarded with SendMessage; then DeleteMessage. No batching, no
overlap, no validation beyond what the job needs.

Environment: AWS_ENDPOINT_URL (and AWS_CA_BUNDLE through TLS), AWS_REGION and
credentials, INBOUND_QUEUE_URL, VALIDATION_QUEUE_URL, STATUS_TAG, CLAMD_HOST,
CLAMD_PORT.

Prints a line {"ready": true} once its clients are built (the worker's "worker
started"), then, after FILES files, one line of JSON with its own CPU time (user
+ system) from then on, and from the end of file WARMUP on.
"""

import json
import os
import socket
import struct
import sys
from urllib.parse import unquote_plus

import boto3

CHUNK = 64 * 1024


def cpu_seconds():
    times = os.times()
    return times.user + times.system


def scan(host, port, body):
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"zINSTREAM\0")
        for chunk in body.iter_chunks(CHUNK):
            sock.sendall(struct.pack(">I", len(chunk)) + chunk)
        sock.sendall(struct.pack(">I", 0))
        # Outside a session clamd closes the connection after its reply.
        reply = b"".join(iter(lambda: sock.recv(4096), b""))
    return reply.rstrip(b"\0").decode("utf-8", "replace")


def main():
    files, warmup = int(sys.argv[1]), int(sys.argv[2])
    env = os.environ
    inbound, validation, tag = env["INBOUND_QUEUE_URL"], env["VALIDATION_QUEUE_URL"], env["STATUS_TAG"]
    host, port = env["CLAMD_HOST"], int(env["CLAMD_PORT"])
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    print(json.dumps({"ready": True}), flush=True)

    started, warm, done = cpu_seconds(), None, 0
    while done < files:
        answer = sqs.receive_message(QueueUrl=inbound, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            for record in json.loads(message["Body"]).get("Records", []):
                bucket = record["s3"]["bucket"]["name"]
                key = unquote_plus(record["s3"]["object"]["key"])
                got = s3.get_object(Bucket=bucket, Key=key)
                verdict = scan(host, port, got["Body"])
                if verdict != "stream: OK":
                    sys.exit(f"naive worker: {key} is {verdict!r}")
                s3.put_object_tagging(
                    Bucket=bucket,
                    Key=key,
                    Tagging={"TagSet": [{"Key": tag, "Value": "CLEAN"}]},
                )
                sqs.send_message(QueueUrl=validation, MessageBody=json.dumps({"Records": [record]}))
                done += 1
                if done == warmup:
                    warm = cpu_seconds()
            sqs.delete_message(QueueUrl=inbound, ReceiptHandle=message["ReceiptHandle"])
    ended = cpu_seconds()
    print(json.dumps({"files": done, "cpuSeconds": ended - started, "warmCpuSeconds": ended - warm if warm is not None else None}))


main()
