"""Terraform-shaped state documents of a chosen size (pure, no I/O).

The service parses what it stores (serial, lineage), and the clobber guard
refuses a write whose serial does not grow or whose lineage changes, so the
bodies are real Terraform v4 states: pretty-printed as Terraform writes them,
made of ``aws_instance``-like resources, padded to the exact size with an
output. Only the ``serial`` differs between two bodies of one ``StateMaker``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import textwrap

KB = 1000
MB = 1000 * KB

_HEAD = '{\n  "version": 4,\n  "terraform_version": "1.9.8",\n  "serial": %d,\n  "lineage": "%s",\n'

_RESOURCE = {
    "mode": "managed",
    "type": "aws_instance",
    "name": "web_@I@",
    "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
    "instances": [
        {
            "schema_version": 1,
            "attributes": {
                "ami": "ami-0c55b159cbfafe1f0",
                "arn": "arn:aws:ec2:eu-west-1:123456789012:instance/i-@X@",
                "associate_public_ip_address": True,
                "availability_zone": "eu-west-1a",
                "id": "i-@X@",
                "instance_state": "running",
                "instance_type": "t3.micro",
                "key_name": None,
                "monitoring": False,
                "private_dns": "ip-10-0-0-1.eu-west-1.compute.internal",
                "private_ip": "10.0.0.1",
                "root_block_device": [
                    {"delete_on_termination": True, "volume_size": 8, "volume_type": "gp3"}
                ],
                "subnet_id": "subnet-0123456789abcdef0",
                "tags": {"Name": "web-@I@", "env": "prod", "team": "platform"},
                "vpc_security_group_ids": ["sg-0123456789abcdef0"],
            },
            "sensitive_attributes": [],
            "private": "eyJzY2hlbWFfdmVyc2lvbiI6IjEifQ==",
            "dependencies": ["aws_security_group.web", "aws_subnet.main"],
        }
    ],
}


def _resource_template() -> str:
    text = textwrap.indent(json.dumps(_RESOURCE, indent=2), "    ")
    return text.replace("%", "%%").replace("@I@", "%(i)d").replace("@X@", "%(x)017x")


_TEMPLATE = _resource_template()


def _tail(items: list[str], padding: int) -> bytes:
    outputs = (
        '  "outputs": {\n    "padding": {\n      "value": "' + "x" * padding + '",\n'
        '      "type": "string"\n    }\n  },\n'
    )
    body = (
        '  "resources": [\n' + ",\n".join(items) + "\n  ],\n" if items else '  "resources": [],\n'
    )
    return (outputs + body + '  "check_results": null\n}\n').encode()


class StateMaker:
    """Bodies of one unit's successive states: ``make(serial)`` is ``size``
    bytes long when ``serial`` has ``serial_digits`` digits."""

    def __init__(self, size: int, lineage: str, *, serial_digits: int = 1) -> None:
        self.size = size
        self.lineage = lineage
        head_len = len(_HEAD % (10 ** (serial_digits - 1), lineage))
        room = size - head_len - len(_tail([], 0))
        items: list[str] = []
        used = 0
        # The list's brackets and newlines cost more than "[]": keep a margin.
        while True:
            item = _TEMPLATE % {"i": len(items), "x": len(items)}
            if used + len(item) + 2 + 8 > room:
                break
            items.append(item)
            used += len(item) + 2
        tail = _tail(items, 0)
        self.resources = len(items)
        self._tail = _tail(items, max(0, size - head_len - len(tail)))

    def make(self, serial: int) -> bytes:
        return (_HEAD % (serial, self.lineage)).encode() + self._tail


def content_md5(data: bytes) -> str:
    """The ``Content-MD5`` header value Terraform sends with every write."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def size_label(size: int) -> str:
    """``10 KB``, ``1 MB``, ``50 MB`` (decimal units, as the issue names them)."""
    if size >= MB and size % MB == 0:
        return f"{size // MB} MB"
    if size >= KB and size % KB == 0:
        return f"{size // KB} KB"
    return f"{size} B"


class DriftingState:
    """Successive versions of a realistic state of about ``size`` bytes:
    resources of several types with random IDs, ARNs, addresses, commit
    hashes, embedded policies and base64 ``private`` blobs (what makes a real
    state compress far less than ``StateMaker``'s copies of one resource),
    a few of them replaced between two versions, as a slowly changing
    infrastructure's applies do. Deterministic for a given ``seed``."""

    def __init__(self, size: int, lineage: str, *, changes: int = 3, seed: int = 7) -> None:
        self._random = random.Random(seed)
        self.lineage = lineage
        self.changes = changes
        self._count = 0
        self.resources: list[dict[str, object]] = []
        while len(self.render(0)) < size:
            self.resources.extend(self._resource() for _ in range(max(1, size // 20_000)))

    def _hex(self, n: int) -> str:
        return "".join(self._random.choice("0123456789abcdef") for _ in range(n))

    def _resource(self) -> dict[str, object]:
        rnd = self._random
        self._count += 1
        iid = "i-" + self._hex(17)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": f"arn:aws:s3:::bucket-{self._hex(8)}/*"}],
        }  # fmt: skip
        attributes = {
            "id": iid,
            "arn": f"arn:aws:ec2:eu-west-1:{rnd.randrange(10**12):012d}:instance/{iid}",
            "ami": "ami-" + self._hex(17),
            "private_ip": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
            "tags": {"Name": f"web-{self._count}", "owner": rnd.choice(["alice", "bob"]),
                     "commit": self._hex(40)},
            "user_data": self._hex(40),
            "policy": json.dumps(policy),
        }  # fmt: skip
        return {
            "mode": "managed",
            "type": rnd.choice(["aws_instance", "aws_s3_bucket", "aws_iam_role"]),
            "name": f"r{self._count}",
            "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
            "instances": [
                {
                    "schema_version": 1,
                    "attributes": attributes,
                    "sensitive_attributes": [],
                    "private": base64.b64encode(rnd.randbytes(48)).decode(),
                    "dependencies": [f"aws_vpc.v{rnd.randrange(5)}"],
                }
            ],
        }

    def render(self, serial: int) -> bytes:
        doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial,
               "lineage": self.lineage, "outputs": {}, "resources": self.resources}  # fmt: skip
        return (json.dumps(doc, indent=2) + "\n").encode()

    def next(self, serial: int) -> bytes:
        """The state at ``serial``, after ``changes`` resources were replaced."""
        for _ in range(self.changes):
            self.resources[self._random.randrange(len(self.resources))] = self._resource()
        return self.render(serial)
