"""Request bodies a client sends and the server structures (``structure``).

The client renders them with ``request_json``, which leaves out what is not
set, so one class states what a request may carry for both ends.
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from cattrs.gen import make_dict_unstructure_fn

from taco_adapters.wire.converter import converter


@frozen
class CreateUnitRequest:
    id: str
    labels: dict[str, str] = field(factory=dict)


@frozen
class UpdateLabelsRequest:
    """``PATCH /v1/units/{id}``: each label to set, or ``None`` to remove it."""

    labels: dict[str, str | None]


@frozen
class RestoreRequest:
    version: int | None = None
    timestamp: str | None = None
    lock_id: str | None = None


@frozen
class ExchangeRequest:
    id_token: str
    nonce: str | None = None


@frozen
class RefreshRequest:
    refresh_token: str


@frozen
class UnlockRequest:
    id: str


for _cls in (
    CreateUnitRequest,
    UpdateLabelsRequest,
    RestoreRequest,
    ExchangeRequest,
    RefreshRequest,
    UnlockRequest,
):
    converter.register_unstructure_hook(
        _cls, make_dict_unstructure_fn(_cls, converter, _cattrs_omit_if_default=True)
    )


def request_json(request: object) -> dict[str, Any]:
    """A request body as a client sends it (unset optional fields left out)."""
    doc: dict[str, Any] = converter.unstructure(request)
    return doc


@frozen
class TokenRequest:
    """``expires_in`` is seconds, or a duration such as ``"90d"``; without it
    the token lives until revoked. ``subject`` makes the token for a service
    subject (needs ``token.manage``); ``roles`` narrows it to these roles of
    its subject."""

    name: str
    expires_in: int | str | None = None
    subject: str | None = None
    roles: list[str] | None = None


converter.register_unstructure_hook(
    TokenRequest, make_dict_unstructure_fn(TokenRequest, converter, _cattrs_omit_if_default=True)
)
