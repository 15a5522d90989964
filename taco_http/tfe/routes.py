"""The routes of the Terraform-Cloud-compatible API: ``API_ROUTES`` are
mounted at ``/api/v2`` (what discovery advertises) and at the reference's
``/tfe/api/v2``; ``ROUTES`` are the few outside it (discovery, the message of
the day, the login endpoints, the tokens page)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from taco_http.tfe import (
    discovery,
    fallback,
    login,
    organizations,
    state_versions,
    workspaces,
)
from taco_http.tfe.paths import MOTD_PATH

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

_WS = "/workspaces/{ws_id}"
_BY_NAME = "/organizations/{org}/workspaces/{name}"

API_ROUTES: list[BaseRoute] = [
    Route("/ping", discovery.ping, methods=["GET"]),
    Route("/account/details", organizations.account, methods=["GET"]),
    Route("/organizations", organizations.list_organizations, methods=["GET"]),
    Route("/organizations/{org}", organizations.show, methods=["GET"]),
    Route("/organizations/{org}/entitlement-set", organizations.entitlements, methods=["GET"]),
    Route("/organizations/{org}/workspaces", workspaces.list_workspaces, methods=["GET"]),
    Route("/organizations/{org}/workspaces", workspaces.create, methods=["POST"]),
    Route(_BY_NAME, workspaces.show, methods=["GET"]),
    Route(_BY_NAME, workspaces.update, methods=["PATCH"]),
    Route(_BY_NAME, workspaces.delete, methods=["DELETE"]),
    Route(f"{_BY_NAME}/actions/safe-delete", workspaces.delete, methods=["POST"]),
    Route(_WS, workspaces.show, methods=["GET"]),
    Route(_WS, workspaces.update, methods=["PATCH"]),
    Route(_WS, workspaces.delete, methods=["DELETE"]),
    Route(f"{_WS}/actions/safe-delete", workspaces.delete, methods=["POST"]),
    Route(f"{_WS}/actions/lock", workspaces.lock, methods=["POST"]),
    Route(f"{_WS}/actions/unlock", workspaces.unlock, methods=["POST"]),
    Route(f"{_WS}/actions/force-unlock", workspaces.force_unlock, methods=["POST"]),
    Route(f"{_WS}/tag-bindings", workspaces.tag_bindings, methods=["GET"]),
    Route(f"{_WS}/tag-bindings", workspaces.add_tag_bindings, methods=["PATCH"]),
    Route(f"{_WS}/effective-tag-bindings", workspaces.tag_bindings, methods=["GET"]),
    Route(f"{_WS}/relationships/tags", workspaces.tags, methods=["GET"]),
    Route(f"{_WS}/relationships/tags", workspaces.add_tags, methods=["POST"]),
    Route(f"{_WS}/relationships/tags", workspaces.remove_tags, methods=["DELETE"]),
    Route(f"{_WS}/current-state-version", state_versions.current, methods=["GET"]),
    Route(f"{_WS}/current-state-version-outputs", state_versions.current_outputs, methods=["GET"]),
    Route(f"{_WS}/state-versions", state_versions.create, methods=["POST"]),
    Route(f"{_WS}/configuration-versions", fallback.remote_execution, methods=["GET", "POST"]),
    Route("/runs", fallback.remote_execution, methods=["GET", "POST"]),
    Route(f"{_WS}/runs", fallback.remote_execution, methods=["GET", "POST"]),
    Route("/state-versions", state_versions.list_versions, methods=["GET"]),
    Route("/state-versions/{sv_id}", state_versions.show, methods=["GET"]),
    Route("/state-versions/{sv_id}/download", state_versions.download, methods=["GET"]),
    Route("/state-versions/{sv_id}/outputs", state_versions.outputs, methods=["GET"]),
    Route("/state-versions/{sv_id}/content", state_versions.upload_content, methods=["PUT"]),
    Route(
        "/state-versions/{sv_id}/json-content",
        state_versions.upload_json_content,
        methods=["PUT"],
    ),
    Route("/state-version-outputs/{output_id}", state_versions.output, methods=["GET"]),
    Route("/{rest:path}", fallback.not_implemented, methods=ANY_METHOD),
]

ROUTES: list[BaseRoute] = [
    Route("/.well-known/terraform.json", discovery.well_known, methods=["GET"]),
    Route(MOTD_PATH, discovery.motd, methods=["GET"]),
    Route("/app/settings/tokens", discovery.tokens_page, methods=["GET"]),
    Route("/oauth/authorization", login.authorization, methods=["GET"]),
    Route("/oauth/callback", login.callback, methods=["GET"]),
    Route("/oauth/token", login.token, methods=["POST"]),
]
