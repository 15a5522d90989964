"""The UI's session store: expiry, bounds, and sign-in starting a new session."""

from __future__ import annotations

from taco_http.ui.session import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sign_in_replaces_the_visitors_session() -> None:
    """Signing in gives a new ID and CSRF token; the old ID names nothing."""
    store = SessionStore()
    visitor = store.new()
    signed = store.sign_in(visitor, "otc_x")
    assert signed.id != visitor.id and signed.csrf != visitor.csrf
    assert store.get(visitor.id) is None
    assert store.get(signed.id) is signed and signed.signed_in


def test_sessions_expire_when_idle_and_at_their_lifetime() -> None:
    """Unused for the idle time, or older than the lifetime, a session is gone."""
    clock = Clock()
    store = SessionStore(clock=clock, idle=10, lifetime=25)
    kept = store.sign_in(store.new(), "otc_x")
    idle = store.sign_in(store.new(), "otc_y")
    for _ in range(2):
        clock.now += 9
        assert store.get(kept.id) is kept
    assert store.get(idle.id) is None
    clock.now += 9
    assert store.get(kept.id) is None


def test_a_flood_of_visitors_never_pushes_out_signed_in_sessions() -> None:
    """Each kind is bounded on its own, least recently used first."""
    store = SessionStore(max_sessions=3)
    signed = [store.sign_in(store.new(), f"otc_{n}") for n in range(3)]
    store.get(signed[0].id)
    for _ in range(100):
        store.new()
    assert len(store) == 6
    store.sign_in(store.new(), "otc_new")
    assert store.get(signed[1].id) is None
    assert store.get(signed[0].id) is signed[0]
    assert store.get(signed[2].id) is signed[2]
