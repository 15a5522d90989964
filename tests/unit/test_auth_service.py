"""The auth use cases over fakes: credentials, login sessions, API tokens."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryAuthStore
from taco_core.auth import (
    ANONYMOUS,
    Principal,
    PrincipalKind,
    RefreshToken,
    principal_from_id_claims,
)
from taco_core.auth_service import AuthService
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.errors import (
    Forbidden,
    InvalidInput,
    NotConfigured,
    PermissionDenied,
    TokenNotFound,
    Unauthenticated,
)
from taco_core.events import AccessDenied, TokenCreated, TokenRevoked
from taco_core.model import Surface
from taco_core.rbac import RbacPolicy, parse_rule
from taco_core.rbac_policy import assign_role, create_permission, create_role
from taco_core.rbac_service import RbacService
from tests.unit.conftest import ROOT, EventLog


def caller(subject: str, kind: PrincipalKind = PrincipalKind.USER, **kw: object) -> Caller:
    return Caller(Principal(subject=subject, kind=kind, **kw), Surface.API)  # type: ignore[arg-type]


ALICE = caller("alice", email="alice@example.test", groups=("devs",))
BOB = caller("bob")
ADMIN = caller(ROOT)


async def test_exchange_gives_tokens_whose_access_token_authenticates(
    service: AuthService,
) -> None:
    """A verified ID token buys an access token that authenticates as that user."""
    issued = await service.exchange("alice-id-token")
    assert issued.expires_in == 3600
    assert issued.refresh_token.startswith("otr_")
    who = await service.authenticate(issued.access_token)
    assert who == Principal(
        subject="alice",
        kind=PrincipalKind.USER,
        email="alice@example.test",
        groups=("platform",),
    )


async def test_exchange_refuses_unknown_id_token_and_wrong_nonce(service: AuthService) -> None:
    """An ID token the verifier rejects, or one from another login (nonce), is refused."""
    with pytest.raises(Unauthenticated):
        await service.exchange("forged")
    with pytest.raises(Unauthenticated, match="nonce"):
        await service.exchange("alice-id-token", nonce="other")
    assert (await service.exchange("alice-id-token", nonce="n-1")).access_token


async def test_exchange_without_oidc_is_not_configured(
    store: MemoryAuthStore, service: AuthService, clock: ManualClock
) -> None:
    """Without a provider, exchange says which settings enable it."""
    bare = AuthService(store, service.codec, clock)
    with pytest.raises(NotConfigured, match="OPENTACO_AUTH_ISSUER"):
        await bare.exchange("alice-id-token")


async def test_refresh_rotates_and_keeps_email_and_groups(service: AuthService) -> None:
    """A refresh hands out a new pair; the identity (email, groups) is kept."""
    first = await service.exchange("alice-id-token")
    second = await service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    who = await service.authenticate(second.access_token)
    assert (who.email, who.groups) == ("alice@example.test", ("platform",))
    third = await service.refresh(second.refresh_token)
    assert await service.authenticate(third.access_token) == who


async def test_reused_refresh_token_is_refused_and_revokes_its_family(
    service: AuthService,
) -> None:
    """Presenting a used refresh token fails and kills the successor too (theft)."""
    first = await service.exchange("alice-id-token")
    second = await service.refresh(first.refresh_token)
    with pytest.raises(Unauthenticated, match="already used"):
        await service.refresh(first.refresh_token)
    with pytest.raises(Unauthenticated, match="revoked"):
        await service.refresh(second.refresh_token)


async def test_other_logins_survive_a_revoked_family(service: AuthService) -> None:
    """Reuse revokes one login session, not the user's other sessions."""
    laptop = await service.exchange("alice-id-token")
    ci = await service.exchange("alice-id-token")
    await service.refresh(laptop.refresh_token)
    with pytest.raises(Unauthenticated):
        await service.refresh(laptop.refresh_token)
    assert (await service.refresh(ci.refresh_token)).access_token


async def test_losing_a_rotation_race_counts_as_reuse(
    service: AuthService, store: MemoryAuthStore
) -> None:
    """When a concurrent refresh used the token first, this one fails and revokes."""
    first = await service.exchange("alice-id-token")
    real_rotate = store.rotate_refresh_token

    async def racing(old_id: str, new: RefreshToken, at: object) -> bool:
        await real_rotate(old_id, attrs.evolve(new, id="winner", secret_hash="x"), at)  # type: ignore[arg-type]
        return await real_rotate(old_id, new, at)  # type: ignore[arg-type]

    store.rotate_refresh_token = racing  # type: ignore[method-assign]
    with pytest.raises(Unauthenticated, match="already used"):
        await service.refresh(first.refresh_token)
    winner = await store.find_refresh_token("x")
    assert winner is not None and winner.revoked is not None


async def test_expired_and_unknown_refresh_tokens_are_refused(
    service: AuthService, clock: ManualClock
) -> None:
    """A refresh token past its lifetime, or never issued, gets nothing."""
    issued = await service.exchange("alice-id-token")
    with pytest.raises(Unauthenticated, match="unknown"):
        await service.refresh("otr_made-up")
    with pytest.raises(Unauthenticated, match="unknown"):
        await service.refresh(issued.access_token)
    clock.advance(timedelta(days=31).total_seconds())
    with pytest.raises(Unauthenticated, match="expired"):
        await service.refresh(issued.refresh_token)


async def test_logout_ends_the_session(service: AuthService) -> None:
    """Logout revokes the session's refresh tokens; unknown tokens are a no-op."""
    issued = await service.exchange("alice-id-token")
    assert await service.logout(issued.refresh_token)
    with pytest.raises(Unauthenticated, match="revoked"):
        await service.refresh(issued.refresh_token)
    assert not await service.logout("otr_unknown")
    assert not await service.logout("garbage")


async def test_refresh_token_does_not_authenticate_requests(service: AuthService) -> None:
    """A refresh token is refused as a credential (only POST /v1/auth/token takes it)."""
    issued = await service.exchange("alice-id-token")
    with pytest.raises(Unauthenticated, match="refresh token"):
        await service.authenticate(issued.refresh_token)


@pytest.mark.parametrize("credential", ["", "   ", "hello", "a.b", "otc_", "otc_nope"])
async def test_garbage_credentials_are_refused(service: AuthService, credential: str) -> None:
    """Anything that is not a token we issued is Unauthenticated, never an error."""
    with pytest.raises(Unauthenticated):
        await service.authenticate(credential)


async def test_purge_forgets_only_expired_refresh_tokens(
    service: AuthService, store: MemoryAuthStore, clock: ManualClock
) -> None:
    """Housekeeping drops refresh tokens that can never be accepted again."""
    old = await service.exchange("alice-id-token")
    clock.advance(timedelta(days=20).total_seconds())
    fresh = await service.exchange("alice-id-token")
    clock.advance(timedelta(days=15).total_seconds())
    assert await service.purge_expired() == 1
    with pytest.raises(Unauthenticated, match="unknown"):
        await service.refresh(old.refresh_token)
    assert (await service.refresh(fresh.refresh_token)).access_token


async def test_api_token_acts_as_its_creator(service: AuthService) -> None:
    """An API token authenticates as the principal that created it."""
    created = await service.create_api_token(ALICE, "ci")
    assert created.secret.startswith("otc_")
    assert created.token.secret_hash != created.secret
    who = await service.authenticate(created.secret)
    assert (who.subject, who.kind, who.email) == (
        "alice",
        PrincipalKind.API_TOKEN,
        ALICE.principal.email,
    )
    assert who.groups == ("devs",) and who.narrowed_to is None
    assert who.token_id == created.token.id


async def test_revoked_api_token_is_refused(service: AuthService) -> None:
    """Revocation takes effect on the next request."""
    created = await service.create_api_token(ALICE, "ci")
    await service.revoke_api_token(ALICE, created.token.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await service.authenticate(created.secret)
    again = await service.revoke_api_token(ALICE, created.token.id)
    assert again.revoked is not None


async def test_expiring_api_token(service: AuthService, clock: ManualClock) -> None:
    """An API token with a lifetime stops working when it is over."""
    created = await service.create_api_token(ALICE, "ci", expires_in=timedelta(days=90))
    clock.advance(timedelta(days=89).total_seconds())
    assert (await service.authenticate(created.secret)).subject == "alice"
    clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(Unauthenticated):
        await service.authenticate(created.secret)


async def test_tokens_are_managed_by_their_owner_or_an_admin(service: AuthService) -> None:
    """Users list and revoke their own tokens; token.manage (the admin role)
    manages all; others see nothing."""
    alices = await service.create_api_token(ALICE, "ci")
    await service.create_api_token(BOB, "laptop")
    assert [t.name for t in await service.list_api_tokens(ALICE)] == ["ci"]
    assert sorted(t.name for t in await service.list_api_tokens(ADMIN)) == ["ci", "laptop"]
    with pytest.raises(TokenNotFound):
        await service.revoke_api_token(BOB, alices.token.id)
    with pytest.raises(TokenNotFound):
        await service.revoke_api_token(ALICE, "no-such-id")
    assert (await service.revoke_api_token(ADMIN, alices.token.id)).revoked is not None


async def test_a_child_token_never_outlives_its_parent(
    service: AuthService, clock: ManualClock
) -> None:
    """A token made with an API token expires no later than that token, asked or not;
    one made by a person keeps what was asked."""
    parent = await service.create_api_token(ALICE, "ci", expires_in=timedelta(days=30))
    acting = Caller(await service.authenticate(parent.secret), Surface.API)
    longer = await service.create_api_token(acting, "job", expires_in=timedelta(days=365))
    forever = await service.create_api_token(acting, "job2")
    shorter = await service.create_api_token(acting, "job3", expires_in=timedelta(days=1))
    assert longer.token.expires == forever.token.expires == parent.token.expires
    assert shorter.token.expires == clock.now() + timedelta(days=1)
    assert longer.token.parent == forever.token.parent == parent.token.id
    own = await service.create_api_token(ALICE, "laptop", expires_in=timedelta(days=365))
    assert own.token.parent == "" and own.token.expires == clock.now() + timedelta(days=365)
    clock.advance(timedelta(days=30).total_seconds())
    with pytest.raises(Unauthenticated):
        await service.authenticate(longer.secret)


async def test_revoking_a_token_revokes_what_it_created(service: AuthService) -> None:
    """Revocation cascades to children and grandchildren, and to nothing else."""
    root = await service.create_api_token(ALICE, "root")
    child = await service.create_api_token(
        Caller(await service.authenticate(root.secret), Surface.API), "child"
    )
    grandchild = await service.create_api_token(
        Caller(await service.authenticate(child.secret), Surface.API), "grandchild"
    )
    sibling = await service.create_api_token(ALICE, "sibling")
    await service.revoke_api_token(ALICE, root.token.id)
    for gone in (root, child, grandchild):
        with pytest.raises(Unauthenticated, match="revoked"):
            await service.authenticate(gone.secret)
    assert (await service.authenticate(sibling.secret)).subject == "alice"


async def test_a_revoked_token_cannot_create_children(service: AuthService) -> None:
    """A principal whose API token was revoked since it authenticated creates nothing."""
    parent = await service.create_api_token(ALICE, "ci")
    acting = Caller(await service.authenticate(parent.secret), Surface.API)
    await service.revoke_api_token(ALICE, parent.token.id)
    with pytest.raises(Unauthenticated):
        await service.create_api_token(acting, "late")
    assert [t.name for t in await service.list_api_tokens(ALICE)] == ["ci"]


@pytest.mark.parametrize(
    ("name", "expires_in"),
    [("", None), ("  ", None), ("x" * 101, None), ("bad\nname", None), ("ok", timedelta(0))],
)
async def test_invalid_token_requests_are_refused(
    service: AuthService, name: str, expires_in: timedelta | None
) -> None:
    """A token needs a printable name and a positive lifetime."""
    with pytest.raises(InvalidInput):
        await service.create_api_token(ALICE, name, expires_in=expires_in)


async def test_anonymous_cannot_create_tokens(service: AuthService) -> None:
    """With auth disabled nobody is known, so no token can act as anyone."""
    with pytest.raises(Forbidden):
        await service.create_api_token(Caller(ANONYMOUS, Surface.API), "ci")


async def test_bootstrap_admin_token_is_made_once(
    service: AuthService, rbac: RbacService, events: EventLog
) -> None:
    """The first bootstrap creates a token whose subject holds the admin role
    (RBAC, no magic group); later ones do nothing."""
    created = await service.bootstrap_admin_token()
    assert created is not None
    who = await service.authenticate(created.secret)
    assert who.subject == "admin" and who.groups == ()
    assert (await rbac.decide(who, "rbac.manage")).allowed
    assert (await rbac.decide(who, "token.manage")).allowed
    assert await service.bootstrap_admin_token() is None
    assert [e.caller for e in events.seen if isinstance(e, TokenCreated)] == [SYSTEM_CALLER]


async def test_no_bootstrap_once_any_token_existed(service: AuthService) -> None:
    """A revoked token still counts: an installation is bootstrapped only once."""
    created = await service.create_api_token(ALICE, "ci")
    await service.revoke_api_token(ALICE, created.token.id)
    assert await service.bootstrap_admin_token() is None


@pytest.mark.parametrize(
    ("claims", "email", "groups"),
    [
        ({"sub": "u1", "email": "a@x.test"}, "a@x.test", ()),
        ({"sub": "u1", "preferred_username": "p@x.test"}, "p@x.test", ()),
        ({"sub": "u1@x.test"}, "u1@x.test", ()),
        ({"sub": "u1", "preferred_username": "plain"}, "", ()),
        ({"sub": "u1", "groups": ["a", 3, "b"]}, "", ("a", "b")),
        ({"sub": "u1", "groups": "admins"}, "", ()),
    ],
)
def test_principal_from_id_claims(
    claims: dict[str, object], email: str, groups: tuple[str, ...]
) -> None:
    """Email falls back to preferred_username, then a sub that is an address;
    groups are taken only from a list of strings."""
    principal = principal_from_id_claims(claims)
    assert (principal.subject, principal.email, principal.groups) == (claims["sub"], email, groups)


async def test_admin_makes_a_token_for_a_service_subject(
    service: AuthService, rbac: RbacService, events: EventLog
) -> None:
    """With token.manage, a token for ci-dev carries that subject alone (no
    email, no groups): its roles are the subject's assignments."""
    created = await service.create_api_token(ADMIN, "ci", subject="ci-dev")
    token = created.token
    assert (token.subject, token.email, token.groups, token.roles) == ("ci-dev", "", (), None)
    assert token.created_by == ROOT
    who = await service.authenticate(created.secret)
    assert who.subject == "ci-dev" and who.kind is PrincipalKind.API_TOKEN
    assert await rbac.roles_of(who) == ()
    await rbac.edit(lambda p: assign_role(p, "ci-dev", "reader"))
    assert await rbac.roles_of(who) == ("reader",)
    assert [type(e) for e in events.seen] == [TokenCreated]
    assert events.seen[0].caller == ADMIN


async def test_only_token_managers_make_tokens_for_others(
    service: AuthService, events: EventLog
) -> None:
    """Without token.manage a token for another subject is PermissionDenied
    naming the action, and the refusal is published."""
    with pytest.raises(PermissionDenied) as refused:
        await service.create_api_token(ALICE, "ci", subject="ci-dev")
    assert refused.value.action == "token.manage"
    assert [type(e) for e in events.seen] == [AccessDenied]
    own = await service.create_api_token(ALICE, "mine", subject="alice")
    assert own.token.groups == ("devs",)


async def test_narrowing_names_only_roles_the_subject_holds(
    service: AuthService, rbac: RbacService
) -> None:
    """--role narrows a token to roles its subject holds; any other role is
    refused, and the narrowed token acts with those roles only."""
    await rbac.edit(lambda p: assign_role(assign_role(p, "ci-dev", "reader"), "ci-dev", "admin"))
    with pytest.raises(InvalidInput, match="does not hold role 'ghost'"):
        await service.create_api_token(ADMIN, "ci", subject="ci-dev", roles=["reader", "ghost"])
    with pytest.raises(InvalidInput, match="at least one role"):
        await service.create_api_token(ADMIN, "ci", subject="ci-dev", roles=[])
    created = await service.create_api_token(ADMIN, "ci", subject="ci-dev", roles=["reader"])
    assert created.token.roles == ("reader",)
    who = await service.authenticate(created.secret)
    assert await rbac.roles_of(who) == ("reader",)
    assert not (await rbac.decide(who, "unit.write", "dev/app")).allowed


async def test_a_narrowed_token_never_mints_a_wider_one(
    service: AuthService, rbac: RbacService
) -> None:
    """A token created with a narrowed token is narrowed the same way (or
    further), never back to all its subject's roles."""
    await rbac.edit(lambda p: assign_role(p, "root", "reader"))
    narrow = await service.create_api_token(ADMIN, "narrow", roles=["reader"])
    as_narrow = Caller(await service.authenticate(narrow.secret), Surface.API)
    child = await service.create_api_token(as_narrow, "child")
    assert child.token.roles == ("reader",)
    with pytest.raises(InvalidInput, match="does not hold role 'admin'"):
        await service.create_api_token(as_narrow, "wider", roles=["admin"])
    with pytest.raises(PermissionDenied):
        await service.create_api_token(as_narrow, "other", subject="ci-dev")


async def test_token_manage_comes_from_rbac_not_from_groups(
    service: AuthService, rbac: RbacService
) -> None:
    """A role allowing token.manage (and nothing else) manages every token;
    the old admin group name grants nothing."""
    rule = parse_rule("allow:token.manage:*")

    def grant(p: RbacPolicy) -> RbacPolicy:
        p = create_permission(p, "tokens", [rule])
        p = create_role(p, "token-admin", permissions=["tokens"])
        return assign_role(p, "carol", "token-admin")

    await rbac.edit(grant)
    await service.create_api_token(BOB, "laptop")
    carol = caller("carol")
    group = caller("dave", groups=("opentaco-admins",))
    assert [t.name for t in await service.list_api_tokens(carol)] == ["laptop"]
    assert await service.list_api_tokens(group) == []
    made = await service.create_api_token(carol, "deploy", subject="deployer")
    assert made.token.subject == "deployer"


async def test_revocations_are_published(service: AuthService, events: EventLog) -> None:
    """Creating and revoking a token each publish an event naming the caller and the token."""
    created = await service.create_api_token(ALICE, "ci")
    await service.revoke_api_token(ADMIN, created.token.id)
    revoked = events.seen[-1]
    assert isinstance(revoked, TokenRevoked)
    assert revoked.caller == ADMIN and revoked.token.id == created.token.id
    assert revoked.token.revoked is not None and revoked.token.secret_hash


async def test_without_rbac_only_own_tokens_and_no_narrowing(
    store: object, codec: object, clock: object
) -> None:
    """An AuthService built without RBAC lets everyone manage only their own
    tokens and refuses narrowing (nothing could enforce it)."""
    bare = AuthService(store, codec, clock)  # type: ignore[arg-type]
    with pytest.raises(NotConfigured):
        await bare.create_api_token(ALICE, "ci", roles=["reader"])
    with pytest.raises(PermissionDenied):
        await bare.create_api_token(ADMIN, "ci", subject="ci-dev")
    await bare.create_api_token(BOB, "laptop")
    assert await bare.list_api_tokens(ADMIN) == []
