"""The ``opentaco`` provider: its block, and the session every resource uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from anyio.from_thread import BlockingPortal
from tf.iface import DataSource, Provider, Resource
from tf.schema import Attribute, Schema
from tf.types import String, Unknown
from tf.utils import Diagnostics

from taco_tf_provider.client import ENDPOINT_ENV, SERVER_ENV, TOKEN_ENV, Connection
from taco_tf_provider.control import ProviderControl
from taco_tf_provider.data_sources import OutputsData, UnitData, UnitsData, UnitStatusData
from taco_tf_provider.dependency_resource import DependencyResource
from taco_tf_provider.diagnostics import Reporter
from taco_tf_provider.errors import ConfigError
from taco_tf_provider.session import Session
from taco_tf_provider.unit_resource import UnitResource

# Where `taco provider install` puts the provider; `required_providers` names it.
SOURCE = "opentaco.local/opentaco/opentaco"

Resolve = Callable[[str | None, str | None, Mapping[str, str]], Connection]
Connect = Callable[[Connection], ProviderControl]


class OpenTacoProvider(Provider):
    """The provider. ``resolve`` and ``connect`` are injected by the composition
    root (``taco_tf_provider.main``), so tests run it over a fake service."""

    def __init__(
        self,
        portal: BlockingPortal,
        *,
        environ: Mapping[str, str],
        resolve: Resolve,
        connect: Connect,
    ) -> None:
        self.portal = portal
        self.environ = environ
        self.resolve = resolve
        self.connect = connect
        self._session: Session | None = None

    def full_name(self) -> str:
        return SOURCE

    def get_model_prefix(self) -> str:
        return "opentaco_"

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(
            attributes=[
                Attribute(
                    "endpoint",
                    String(),
                    description=f"URL of the OpenTaco server. Default: {ENDPOINT_ENV}, "
                    f"else the taco CLI's server ({SERVER_ENV}, else http://localhost:8080).",
                    optional=True,
                ),
                Attribute(
                    "token",
                    String(),
                    description=f"API token or access token. Default: {TOKEN_ENV}, else "
                    "the login saved by `taco login` for the endpoint. Keep it out of "
                    "configuration files: prefer the environment.",
                    optional=True,
                    sensitive=True,
                ),
            ]
        )

    def validate_config(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        endpoint = config.get("endpoint")
        if isinstance(endpoint, str) and not endpoint.strip().startswith(("http://", "https://")):
            diags.add_error(
                "Invalid OpenTaco endpoint",
                f"endpoint must be an http:// or https:// URL, got {endpoint!r}",
                path=["endpoint"],
            )

    def configure_provider(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        endpoint, token = config.get("endpoint"), config.get("token")
        if endpoint is Unknown or token is Unknown:
            diags.add_error(
                "OpenTaco provider configuration is not known yet",
                "endpoint and token must be known before Terraform plans: set them from "
                "variables or the environment, not from resources of this configuration.",
            )
            return
        with Reporter(diags, "configure the OpenTaco provider", None):
            self.close()  # Terraform configures once per process; never leak a client
            connection = self.resolve(endpoint, token, self.environ)
            for warning in connection.warnings:
                diags.add_warning("OpenTaco credentials are exposed", warning)
            control = self.portal.call(self.connect, connection)
            self._session = Session(self.portal, control, connection)

    def get_resources(self) -> list[type[Resource]]:
        return [UnitResource, DependencyResource]

    def get_data_sources(self) -> list[type[DataSource]]:
        return [UnitData, UnitsData, OutputsData, UnitStatusData]

    @property
    def session(self) -> Session:
        """The configured session; ``ConfigError`` before ``configure_provider`` succeeded."""
        if self._session is None:
            raise ConfigError("the provider is not configured (see the errors above)")
        return self._session

    def reporter(self, diags: Diagnostics, action: str) -> Reporter:
        """A ``Reporter`` for a call made while doing ``action``."""
        connection = self._session.connection if self._session is not None else None
        return Reporter(diags, action, connection)

    def close(self) -> None:
        """Close the session's client, if one was opened."""
        if self._session is not None:
            session, self._session = self._session, None
            session.close()
