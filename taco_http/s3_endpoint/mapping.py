"""Where S3 buckets and keys meet units: the S3 endpoint's one mapping.

Buckets name namespaces. The root bucket (``OPENTACO_S3_ROOT_BUCKET``,
default ``opentaco``) holds every unit; any other bucket ``B`` holds the
units under ``B/`` (a TFE organization's workspaces, say), and its key
``terraform.tfstate`` is unit ``B`` itself. So a unit may be reached through
more than one bucket (``myapp/prod`` is bucket ``opentaco`` key
``myapp/prod/terraform.tfstate`` and bucket ``myapp`` key
``prod/terraform.tfstate``), but every bucket and key names one unit at most.

Keys, inside a bucket of namespace ``N``:

- ``<path>/terraform.tfstate`` is the state of unit ``N<path>``, and
  ``<path>/terraform.tfstate.tflock`` its lock (Terraform's lockfile).
- ``env:/<ws>/<path>/terraform.tfstate``, where Terraform keeps workspace
  ``<ws>`` (its default ``workspace_key_prefix`` is ``env:``, and ``:`` cannot
  appear in a unit ID), is unit ``N_env/<ws>/<path>``. Keys under ``_env/``
  are refused, so each such unit has exactly one key, the ``env:/`` one.
- Anything else is refused with ``InvalidArgument``: this endpoint stores
  Terraform states and their locks, nothing else.

The mapping is pure: it parses and renders, and the routes ask the core.
"""

from __future__ import annotations

import enum

from attrs import frozen

from taco_core.errors import InvalidUnitId
from taco_core.model import UnitId
from taco_core.unit_id import parse_unit_id
from taco_http.s3api.errors import InvalidArgument, InvalidBucketName

STATE_FILE = "terraform.tfstate"
LOCK_FILE = STATE_FILE + ".tflock"
# Terraform's default ``workspace_key_prefix`` ("env:"), with its separator.
WORKSPACES_KEY_PREFIX = "env:/"
# Where those workspaces live among the units of a namespace.
WORKSPACES_SEGMENT = "_env"
_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

_UNSUPPORTED = (
    "OpenTaco's S3 endpoint stores Terraform states only: a key must be "
    "<path>/terraform.tfstate (the state of unit <path>), its .tflock, or "
    "env:/<workspace>/<path>/terraform.tfstate; got {key!r}"
)


class ObjectKind(enum.Enum):
    """What an object key stands for."""

    STATE = "state"
    LOCK = "lock"


@frozen
class ObjectRef:
    """An object key of a bucket, and the unit (and which part of it) it names."""

    bucket: str
    key: str
    unit_id: UnitId
    kind: ObjectKind


@frozen
class Buckets:
    """The mapping, for the configured ``root`` bucket name."""

    root: str

    def namespace(self, bucket: str) -> str:
        """The unit-ID prefix ``bucket`` holds: ``""`` for the root bucket,
        ``"B/"`` for bucket ``B``. ``InvalidBucketName`` when ``bucket``
        cannot be a unit-ID segment."""
        if (
            not bucket
            or not set(bucket) <= _BUCKET_CHARS
            or bucket in (".", "..")
            or "__" in bucket
            or len(bucket) > 63
        ):
            raise InvalidBucketName(
                f"Bucket {bucket!r} is not valid here: a bucket names a namespace of units, "
                "one segment of letters, digits, '.', '_' and '-' (no '__'), at most 63 long.",
                BucketName=bucket,
            )
        return "" if bucket == self.root else bucket + "/"

    def locate(self, bucket: str, key: str) -> ObjectRef:
        """The unit and part (state or lock) that ``key`` of ``bucket`` names;
        ``InvalidArgument`` for a key that names none."""
        namespace = self.namespace(bucket)
        path, kind = _folder_and_kind(key)
        relative = _unit_path(path, key)
        raw = namespace + relative if relative else namespace.removesuffix("/")
        if not raw:
            raise InvalidArgument(
                f"Key {key!r} names no unit: in bucket {bucket!r}, which holds every unit, "
                "a key is <unit-id>/terraform.tfstate (e.g. myapp/prod/terraform.tfstate).",
                ArgumentName="key",
            )
        try:
            unit_id = parse_unit_id(raw)
        except InvalidUnitId as exc:
            raise InvalidArgument(
                f"Key {key!r} of bucket {bucket!r} would be unit {raw!r}, which is not a valid "
                f"unit ID: {exc.message}",
                ArgumentName="key",
            ) from None
        return ObjectRef(bucket=bucket, key=key, unit_id=unit_id, kind=kind)

    def key_of(self, bucket: str, unit_id: str) -> str | None:
        """The key of ``unit_id``'s state in ``bucket``, or ``None`` when the
        bucket does not hold it (the inverse of ``locate``)."""
        namespace = self.namespace(bucket)
        if not namespace:
            relative = unit_id
        elif unit_id == namespace.removesuffix("/"):
            relative = ""
        elif unit_id.startswith(namespace):
            relative = unit_id[len(namespace) :]
        else:
            return None
        first, _, rest = relative.partition("/")
        if first == WORKSPACES_SEGMENT:
            if not rest:
                return None
            relative = WORKSPACES_KEY_PREFIX + rest
        return f"{relative}/{STATE_FILE}" if relative else STATE_FILE

    def unit_prefix(self, bucket: str, key_prefix: str) -> str:
        """A unit-ID prefix that every unit whose key in ``bucket`` starts
        with ``key_prefix`` has (a listing then keeps the units whose key
        does)."""
        namespace = self.namespace(bucket)
        if key_prefix.startswith(WORKSPACES_KEY_PREFIX):
            relative = WORKSPACES_SEGMENT + "/" + key_prefix[len(WORKSPACES_KEY_PREFIX) :]
        elif WORKSPACES_KEY_PREFIX.startswith(key_prefix):
            # "", "e", "env:" ... lead both to plain keys and to workspaces.
            relative = ""
        else:
            relative = key_prefix
        # A key is its unit's ID and "/terraform.tfstate", so the unit's ID
        # starts with the prefix, or the prefix runs into that file name.
        head, slash, tail = relative.rpartition("/")
        cut = head if slash and STATE_FILE.startswith(tail) else relative
        return (namespace + cut) if cut else namespace.removesuffix("/")


def _folder_and_kind(key: str) -> tuple[str, ObjectKind]:
    """A key's folder, and whether it names the state or the lockfile."""
    for name, kind in ((LOCK_FILE, ObjectKind.LOCK), (STATE_FILE, ObjectKind.STATE)):
        if key == name or key.endswith("/" + name):
            return key[: -len(name)].removesuffix("/"), kind
    raise InvalidArgument(_UNSUPPORTED.format(key=key), ArgumentName="key")


def _unit_path(path: str, key: str) -> str:
    """The unit path (relative to the bucket's namespace) of a key's folder."""
    if path.startswith(WORKSPACES_KEY_PREFIX):
        rest = path[len(WORKSPACES_KEY_PREFIX) :]
        if not rest:
            raise InvalidArgument(_UNSUPPORTED.format(key=key), ArgumentName="key")
        return WORKSPACES_SEGMENT + "/" + rest
    if path.partition("/")[0] == WORKSPACES_SEGMENT:
        raise InvalidArgument(
            f"Key {key!r}: the folder {WORKSPACES_SEGMENT}/ holds Terraform workspaces and is "
            f"reached as {WORKSPACES_KEY_PREFIX}<workspace>/<path>/{STATE_FILE}.",
            ArgumentName="key",
        )
    return path
