"""The provider block and the process: configuration, validation, the plugin executable."""

from __future__ import annotations

import os
import subprocess
import sys

from anyio.from_thread import BlockingPortal
from tf.types import Unknown
from tf.utils import Diagnostics

from taco_cli.provider_install import SOURCE as INSTALLED_SOURCE
from taco_tf_provider import client
from taco_tf_provider.provider import SOURCE, OpenTacoProvider
from tests.provider.conftest import configured, errors
from tests.provider.fakes import FakeControl


def unconfigured(portal: BlockingPortal, fake: FakeControl) -> OpenTacoProvider:
    return OpenTacoProvider(portal, environ={}, resolve=client.resolve, connect=lambda _: fake)


def test_the_provider_answers_to_the_source_taco_installs_it_under() -> None:
    """full_name is the required_providers source taco provider install prints."""
    assert SOURCE == INSTALLED_SOURCE


def test_token_is_sensitive_and_both_arguments_optional(
    portal: BlockingPortal, fake: FakeControl
) -> None:
    """The provider block may be empty; the token never shows in plans."""
    schema = unconfigured(portal, fake).get_provider_schema(Diagnostics())
    attributes = {a.name: a for a in schema.attributes}
    assert set(attributes) == {"endpoint", "token"}
    assert attributes["token"].sensitive
    assert all(a.optional and not a.required for a in attributes.values())


def test_a_malformed_endpoint_fails_validation(portal: BlockingPortal, fake: FakeControl) -> None:
    """endpoint must be an http(s) URL, reported on the argument."""
    diags = Diagnostics()
    unconfigured(portal, fake).validate_config(diags, {"endpoint": "taco:8080", "token": None})
    assert [(d.summary, d.path) for d in diags.diagnostics] == [
        ("Invalid OpenTaco endpoint", ["endpoint"])
    ]


def test_configuration_unknown_until_apply_is_refused(
    portal: BlockingPortal, fake: FakeControl
) -> None:
    """An endpoint computed from a resource cannot configure a plan."""
    provider = unconfigured(portal, fake)
    diags = Diagnostics()
    provider.configure_provider(diags, {"endpoint": Unknown, "token": None})
    assert [s for s, _ in errors(diags)] == ["OpenTaco provider configuration is not known yet"]


def test_calls_before_configuration_become_diagnostics(
    portal: BlockingPortal, fake: FakeControl
) -> None:
    """A resource used after configuration failed reports it instead of crashing."""
    provider = unconfigured(portal, fake)
    diags = Diagnostics()
    with provider.reporter(diags, "read unit x"):
        provider.session.call(lambda c: c.list_units(""))
    assert errors(diags) == [
        (
            "Invalid OpenTaco provider configuration",
            "the provider is not configured (see the errors above)",
        )
    ]


def test_configuring_again_replaces_the_client(portal: BlockingPortal, fake: FakeControl) -> None:
    """A second configuration closes the first client instead of leaking it."""
    provider = configured(portal, fake)
    provider.configure_provider(Diagnostics(), {"endpoint": "http://other:1", "token": None})
    assert fake.closed
    assert provider.session.connection.endpoint == "http://other:1"
    provider.close()


def test_close_closes_the_client_once(portal: BlockingPortal, fake: FakeControl) -> None:
    """Ending the process closes the client; closing again does nothing."""
    provider = configured(portal, fake)
    provider.close()
    assert fake.closed
    provider.close()


def test_the_executable_refuses_to_run_outside_terraform() -> None:
    """Started by hand it says what it is and exits 1, printing nothing on stdout."""
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_MAGIC_COOKIE"}
    proc = subprocess.run(
        [sys.executable, "-m", "taco_tf_provider"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "plugin that Terraform starts" in proc.stderr
