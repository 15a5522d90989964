"""Multipart uploads of a state: how Terraform 1.15.5 writes states over 5 MiB.

``POST ?uploads`` starts one and ``PUT ?partNumber=N&uploadId=U`` stages
parts, each only while the caller may write the unit (in parallel, possibly
on different replicas, hence ``UploadStaging`` beside the states); ``POST
?uploadId=U`` with the part list joins them and writes the state through the
normal commit, exactly as a single PutObject would, and ``DELETE
?uploadId=U`` drops them. An upload belongs to the principal that started it
and to its bucket and key; for anyone else it does not exist. The parts of
one upload hold at most ``OPENTACO_MAX_STATE_BYTES`` together, and uploads
left unfinished are dropped after ``OPENTACO_S3_UPLOAD_EXPIRY``.

S3's rules hold: part numbers 1 to 10000, parts listed in ascending order,
every part but the last at least 5 MiB, each part's ETag (and checksum, when
the list names one) matching what was staged.
"""

from __future__ import annotations

import hashlib
import secrets
import xml.etree.ElementTree as ET

import anyio.to_thread
from attrs import frozen
from starlette.responses import Response

from taco_core.model import StagedUpload
from taco_http.s3_endpoint.call import S3Call
from taco_http.s3_endpoint.mapping import ObjectKind, ObjectRef
from taco_http.s3_endpoint.objects import etag_of
from taco_http.s3_endpoint.xml import children_named, element, parse_document, text_of, xml_response
from taco_http.s3api import ChecksumAlgorithm
from taco_http.s3api.errors import (
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
    NoSuchUpload,
)

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
# A list of 10,000 parts with their checksums fits easily.
COMPLETE_BODY_LIMIT = 4 * 1024 * 1024
_CHECKSUM_ELEMENT = "Checksum"
_OFF_LOOP_BYTES = 1 << 20


@frozen
class _Listed:
    """One part as the client's part list names it."""

    number: int
    etag: str
    checksums: tuple[tuple[ChecksumAlgorithm, str], ...]


def _target(ref: ObjectRef) -> str:
    return f"{ref.bucket}/{ref.key}"


def _state_only(ref: ObjectRef) -> None:
    if ref.kind is not ObjectKind.STATE:
        raise InvalidRequest("A lockfile is uploaded whole, with PutObject.")


async def _upload_of(call: S3Call, ref: ObjectRef) -> StagedUpload:
    """The caller's own upload to this key named by ``uploadId``."""
    upload_id = call.query.get("uploadId", "")
    upload = await call.services.staging.get_upload(upload_id) if upload_id else None
    if (
        upload is None
        or upload.target != _target(ref)
        or upload.owner != call.caller.principal.owner_key
    ):
        raise NoSuchUpload(UploadId=upload_id)
    return upload


def _part_number(call: S3Call) -> int:
    raw = call.query.get("partNumber", "")
    if not raw.isdigit() or not raw.isascii() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


async def create_upload(call: S3Call, ref: ObjectRef) -> Response:
    """CreateMultipartUpload (``POST ?uploads``)."""
    _state_only(ref)
    await call.states.authorize_write(call.caller, ref.unit_id)
    upload = StagedUpload(
        id=secrets.token_hex(24),
        target=_target(ref),
        owner=call.caller.principal.owner_key,
        started=call.states.clock.now(),
    )
    await call.services.staging.begin_upload(upload)
    headers = {}
    algorithm = call.request.header("x-amz-checksum-algorithm")
    if algorithm is not None:
        headers["x-amz-checksum-algorithm"] = ChecksumAlgorithm.from_label(algorithm).label
    children = [("Bucket", ref.bucket), ("Key", ref.key), ("UploadId", upload.id)]
    return xml_response(element("InitiateMultipartUploadResult", children), headers=headers)


async def upload_part(call: S3Call, ref: ObjectRef) -> Response:
    """UploadPart (``PUT ?partNumber=N&uploadId=U``)."""
    _state_only(ref)
    number = _part_number(call)
    upload = await _upload_of(call, ref)
    # Asked again for every part: a role revoked mid-upload stops it here,
    # before more bytes are staged.
    await call.states.authorize_write(call.caller, ref.unit_id)
    staging = call.services.staging
    others = sum(size for n, size in (await staging.part_sizes(upload.id)).items() if n != number)
    room = max(call.states.policy.max_state_bytes - others, 0)
    received = await call.payload(room)
    if not await staging.put_part(upload.id, number, received.data):
        raise NoSuchUpload(UploadId=upload.id)
    headers = {"ETag": etag_of(received.data)}
    if received.checksum is not None:
        headers[received.checksum.algorithm.header] = received.checksum.value
    return Response(status_code=200, headers=headers)


def _listed_parts(root: ET.Element) -> list[_Listed]:
    listed = []
    for part in children_named(root, "Part"):
        number_text = text_of(part, "PartNumber")
        etag = text_of(part, "ETag")
        if number_text is None or etag is None or not number_text.isdigit():
            raise MalformedXML("Every <Part> needs a <PartNumber> and an <ETag>.")
        checksums = []
        for child in part:
            name = child.tag.rpartition("}")[2]
            if name.startswith(_CHECKSUM_ELEMENT) and name != "ChecksumType":
                label = name[len(_CHECKSUM_ELEMENT) :]
                try:
                    algorithm = ChecksumAlgorithm(label.lower())
                except ValueError:
                    raise MalformedXML(f"Unknown checksum <{name}>.") from None
                checksums.append((algorithm, (child.text or "").strip()))
        listed.append(_Listed(int(number_text), etag.strip().strip('"'), tuple(checksums)))
    if not listed:
        raise MalformedXML("The part list names no part.")
    numbers = [p.number for p in listed]
    if numbers != sorted(set(numbers)):
        raise InvalidPartOrder()
    return listed


def _md5_matching(data: bytes, part: _Listed) -> bytes:
    """The part's MD5 digest, once its ETag and checksums are what it says."""
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    if digest.hex() != part.etag.lower():
        raise InvalidPart(PartNumber=str(part.number), ETag=part.etag)
    for algorithm, value in part.checksums:
        if algorithm.b64digest(data) != value:
            raise InvalidPart(
                f"The {algorithm.label} checksum of part {part.number} does not match.",
                PartNumber=str(part.number),
            )
    return digest


async def complete_upload(call: S3Call, ref: ObjectRef) -> Response:
    """CompleteMultipartUpload (``POST ?uploadId=U``): the parts become the state."""
    _state_only(ref)
    upload = await _upload_of(call, ref)
    received = await call.payload(COMPLETE_BODY_LIMIT)
    listed = _listed_parts(parse_document(received.data, "CompleteMultipartUpload"))
    staging = call.services.staging
    sizes = await staging.part_sizes(upload.id)
    missing = [p.number for p in listed if p.number not in sizes]
    if missing:
        raise InvalidPart(PartNumber=str(missing[0]))
    call.states.check_size(sum(sizes[p.number] for p in listed))
    data = bytearray()
    digests = []
    for index, part in enumerate(listed):
        found = await staging.read_part(upload.id, part.number)
        if found is None:
            raise InvalidPart(PartNumber=str(part.number))
        if index < len(listed) - 1 and len(found) < MIN_PART_SIZE:
            raise EntityTooSmall(
                ProposedSize=str(len(found)),
                MinSizeAllowed=str(MIN_PART_SIZE),
                PartNumber=str(part.number),
            )
        if len(found) > _OFF_LOOP_BYTES:
            digests.append(await anyio.to_thread.run_sync(_md5_matching, found, part))
        else:
            digests.append(_md5_matching(found, part))
        data += found
    await call.states.upload(call.caller, ref.unit_id, data, owned_lock=True, create_missing=True)
    await staging.end_upload(upload.id)
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    children = [
        ("Location", f"/{ref.bucket}/{ref.key}"),
        ("Bucket", ref.bucket),
        ("Key", ref.key),
        ("ETag", f'"{combined}-{len(listed)}"'),
    ]
    return xml_response(element("CompleteMultipartUploadResult", children))


async def abort_upload(call: S3Call, ref: ObjectRef) -> Response:
    """AbortMultipartUpload (``DELETE ?uploadId=U``)."""
    upload = await _upload_of(call, ref)
    await call.services.staging.end_upload(upload.id)
    return Response(status_code=204)
