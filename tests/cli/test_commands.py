"""Every ``taco unit`` command against a live ``opentacosvc``: happy paths, then errors."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Taco, state
from tests.servers import free_port


def _lock_files(cwd: Path) -> list[Path]:
    return sorted((cwd / ".taco" / "locks").glob("*/*.json"))


# -- happy paths -------------------------------------------------------------


def test_create_with_labels_then_info_shows_them(taco: Taco, unit_id: str) -> None:
    """create prints the reference's line; info shows labels, size and 'Locked: no'."""
    assert taco.ok("unit", "create", unit_id, "--label", "team=pay").out == (
        f"Unit created: {unit_id}\n"
    )
    out = taco.ok("unit", "info", unit_id).out
    assert f"ID:       {unit_id}" in out
    assert "Labels:   team=pay" in out
    assert "Size:     0 B" in out
    assert "Locked:   no" in out


def test_ls_is_a_table_filtered_by_prefix(taco: Taco, unit_id: str) -> None:
    """ls prints ID, SIZE, UPDATED, LOCKED and a total, for the prefix only."""
    taco.ok("unit", "create", f"{unit_id}/a")
    taco.ok("unit", "create", f"{unit_id}/b")
    taco.ok("unit", "push", f"{unit_id}/b", "-", stdin=state(1) + b" " * 2000)
    taco.ok("unit", "lock", f"{unit_id}/b")
    lines = taco.ok("unit", "list", f"{unit_id}/").out.splitlines()
    assert lines[0].split() == ["ID", "SIZE", "UPDATED", "(UTC)", "LOCKED"]
    rows = [line.split() for line in lines[1:3]]
    assert rows[0][0] == f"{unit_id}/a" and rows[0][1:3] == ["0", "B"] and rows[0][-1] == "no"
    assert rows[1][0] == f"{unit_id}/b" and rows[1][2] == "KiB" and rows[1][-1] == "yes"
    assert lines[-1] == "Total: 2 units"
    assert taco.ok("unit", "ls", "no-such-prefix/").out == "No units found\n"


def test_info_aliases_show_and_describe(taco: Taco, unit_id: str) -> None:
    """show and describe are info."""
    taco.ok("unit", "create", unit_id)
    info = taco.ok("unit", "info", unit_id).out
    assert taco.ok("unit", "show", unit_id).out == info
    assert taco.ok("unit", "describe", unit_id).out == info


def test_push_file_and_stdin_then_pull_to_stdout_and_file(taco: Taco, unit_id: str) -> None:
    """push takes a file or '-'; pull writes the exact bytes to stdout or a file."""
    taco.ok("unit", "create", unit_id)
    (taco.cwd / "s1.json").write_bytes(state(1))
    out = taco.ok("unit", "push", unit_id, "s1.json").out
    assert out.startswith(f"Unit uploaded: {unit_id} (version 1, serial 1,")
    assert taco.ok("unit", "pull", unit_id).stdout_bytes == state(1)
    taco.ok("unit", "push", unit_id, "-", stdin=state(2))
    out = taco.ok("unit", "pull", unit_id, "got.json").out
    assert out.startswith(f"Unit downloaded to: got.json ({unit_id} version 2")
    assert (taco.cwd / "got.json").read_bytes() == state(2)
    assert taco.ok("unit", "pull", unit_id, "--version", "1").stdout_bytes == state(1)


def test_push_same_bytes_again_is_unchanged(taco: Taco, unit_id: str) -> None:
    """A repeated push of the current bytes reports 'State unchanged'."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    out = taco.ok("unit", "push", unit_id, "-", stdin=state(1)).out
    assert out == f"State unchanged: identical to version 1 of {unit_id}\n"


def test_lock_saves_the_id_0600_and_unlock_removes_it(taco: Taco, unit_id: str) -> None:
    """lock prints and saves the lock ID (0600, keyed by server and unit); unlock uses it."""
    taco.ok("unit", "create", unit_id)
    out = taco.ok("unit", "lock", unit_id).out
    assert out.startswith(f"Unit locked: {unit_id} (lock ID: ")
    lock_id = out.rsplit("lock ID: ", 1)[1].rstrip(")\n")
    (saved,) = _lock_files(taco.cwd)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    doc = json.loads(saved.read_text())
    assert doc["lock"]["id"] == lock_id and doc["unit"] == unit_id
    assert doc["origin"] == taco.server
    info = taco.ok("unit", "info", unit_id).out
    assert f"  ID:        {lock_id}" in info and "  Who:       " in info and "  Since:     " in info
    assert "Operation: OperationTypeTaco" in info
    # Locking again from the same directory is a no-op, not a conflict with ourselves.
    assert lock_id in taco.ok("unit", "lock", unit_id).out
    assert taco.ok("unit", "unlock", unit_id).out == f"Unit unlocked: {unit_id}\n"
    assert _lock_files(taco.cwd) == []
    assert "Locked:   no" in taco.ok("unit", "info", unit_id).out


def test_push_uses_the_saved_lock_id(taco: Taco, unit_id: str) -> None:
    """After lock, push from the same directory is accepted by the locked unit."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "lock", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    taco.ok("unit", "unlock", unit_id)


def test_unlock_with_explicit_lock_id_and_force(taco: Taco, unit_id: str, tmp_path: Path) -> None:
    """unlock takes the lock ID as an argument; --force opens anyone's lock."""
    taco.ok("unit", "create", unit_id)
    lock_id = taco.ok("--json", "unit", "lock", unit_id).json()["lock"]["id"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    taco.ok("unit", "unlock", unit_id, lock_id, cwd=other)
    taco.ok("unit", "lock", unit_id)
    assert taco.ok("unit", "unlock", unit_id, "--force", cwd=other).out == (
        f"Unit unlocked (forced): {unit_id}\n"
    )
    assert "Locked:   no" in taco.ok("unit", "info", unit_id).out


def test_acquire_to_file_and_release(taco: Taco, unit_id: str) -> None:
    """acquire locks and downloads; release uploads with the lock and unlocks."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    out = taco.ok("unit", "acquire", unit_id, "work.json").out
    assert out.startswith(f"Unit locked: {unit_id} (lock ID: ")
    assert "Unit downloaded to: work.json" in out
    assert (taco.cwd / "work.json").read_bytes() == state(1)
    (taco.cwd / "work.json").write_bytes(state(2))
    out = taco.ok("unit", "release", unit_id, "work.json").out
    assert out.splitlines() == [
        f"Unit uploaded: {unit_id} (version 2, serial 2, {len(state(2))} B)",
        f"Unit unlocked: {unit_id}",
    ]
    assert _lock_files(taco.cwd) == []
    assert taco.ok("unit", "pull", unit_id).stdout_bytes == state(2)


def test_acquire_to_stdout_keeps_stdout_for_the_state(taco: Taco, unit_id: str) -> None:
    """acquire without a file writes only the state to stdout, messages to stderr."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    result = taco.ok("unit", "acquire", unit_id)
    assert result.stdout_bytes == state(1)
    assert f"Unit locked: {unit_id}" in result.err
    taco.ok("unit", "unlock", unit_id)


def test_acquire_of_a_unit_without_state_keeps_the_lock(taco: Taco, unit_id: str) -> None:
    """acquire on a fresh unit locks it and says there was nothing to download."""
    taco.ok("unit", "create", unit_id)
    out = taco.ok("unit", "acquire", unit_id, "f.json").out
    assert "it has no state yet, nothing downloaded" in out
    assert not (taco.cwd / "f.json").exists()
    taco.ok("unit", "release", unit_id, "-", stdin=state(1))


def test_acquire_gives_the_lock_back_when_the_download_fails(taco: Taco, unit_id: str) -> None:
    """A download that cannot be written unlocks again and forgets the lock ID."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    result = taco("unit", "acquire", unit_id, "no-such-dir/f.json")
    assert result.code == 1, result
    assert "cannot write state file 'no-such-dir/f.json'" in result.err
    assert "Locked:   no" in taco.ok("unit", "info", unit_id).out
    assert _lock_files(taco.cwd) == []


def test_versions_restore_rm_undelete(taco: Taco, unit_id: str) -> None:
    """versions lists the history; restore makes v1 current; rm and undelete round-trip."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    taco.ok("unit", "push", unit_id, "-", stdin=state(2))
    lines = taco.ok("unit", "versions", unit_id).out.splitlines()
    assert lines[0].split()[:2] == ["VERSION", "CREATED"]
    assert lines[1].split()[:2] == ["*", "2"]
    assert lines[2].split()[0] == "1"
    assert lines[-1].startswith("Total: 2 versions")
    out = taco.ok("unit", "restore", unit_id, "1").out
    assert out == f"Unit restored: {unit_id} version 1 is current again as version 3 (serial 3)\n"
    assert json.loads(taco.ok("unit", "pull", unit_id).out)["serial"] == 3
    assert taco.ok("unit", "rm", unit_id).out.startswith(f"Unit deleted: {unit_id}\n")
    assert taco("unit", "info", unit_id).code == 4
    assert unit_id in taco.ok("unit", "ls", "--deleted", unit_id).out
    assert taco.ok("unit", "undelete", unit_id).out == f"Unit undeleted: {unit_id}\n"
    assert taco.ok("unit", "pull", unit_id).out.count('"serial": 3') == 1


def test_rm_aliases(taco: Taco, unit_id: str) -> None:
    """delete and remove are rm."""
    for alias in ("rm", "delete", "remove"):
        taco.ok("unit", "create", f"{unit_id}-{alias}")
        assert taco.ok("unit", alias, f"{unit_id}-{alias}").out.startswith("Unit deleted:")


def test_json_output_parses_for_every_command(taco: Taco, unit_id: str) -> None:
    """--json (before or after the command) gives one JSON document per command."""
    (taco.cwd / "s.json").write_bytes(state(1))
    created = taco.ok("--json", "unit", "create", unit_id).json()
    assert created["id"] == unit_id and created["locked"] is False
    listed = taco.ok("unit", "ls", unit_id, "--json").json()
    assert [u["id"] for u in listed["units"]] == [unit_id] and listed["count"] == 1
    assert taco.ok("unit", "info", unit_id, "--json").json()["version"] is None
    pushed = taco.ok("unit", "push", unit_id, "s.json", "--json").json()
    assert pushed["changed"] is True and pushed["version"]["number"] == 1
    pulled = taco.ok("unit", "pull", unit_id, "p.json", "--json").json()
    assert pulled["number"] == 1 and pulled["file"] == "p.json"
    locked = taco.ok("unit", "lock", unit_id, "--json").json()
    assert locked["lock"]["operation"] == "OperationTypeTaco"
    assert taco.ok("unit", "unlock", unit_id, "--json").json()["unlocked"] is True
    acquired = taco.ok("unit", "acquire", unit_id, "a.json", "--json").json()
    assert acquired["version"]["number"] == 1 and acquired["lock"]["id"]
    (taco.cwd / "a.json").write_bytes(state(2))
    released = taco.ok("unit", "release", unit_id, "a.json", "--json").json()
    assert released["unlocked"] is True and released["version"]["serial"] == 2
    history = taco.ok("unit", "versions", unit_id, "--json").json()
    assert [v["number"] for v in history["versions"]] == [2, 1] and history["current"] == 2
    restored = taco.ok("unit", "restore", unit_id, "1", "--json").json()
    assert restored["version"]["restored_from"] == 1
    assert taco.ok("unit", "rm", unit_id, "--json").json() == {"id": unit_id, "deleted": True}
    assert taco.ok("unit", "undelete", unit_id, "--json").json()["id"] == unit_id


def test_verbose_shows_each_request_and_status(taco: Taco, unit_id: str) -> None:
    """-v prints every request and its response status on stderr, the ID %2F-encoded."""
    taco.ok("unit", "create", unit_id)
    err = taco.ok("-v", "unit", "info", unit_id).err
    encoded = unit_id.replace("/", "%2F")
    assert f"> GET {taco.server}/v1/units/{encoded}" in err
    assert "< 200 OK" in err


def test_version_flag_and_console_script(taco: Taco) -> None:
    """--version names the package version, also through the installed ``taco`` script."""
    assert taco.ok("--version").out.startswith("taco (OpenTaco) ")
    script = shutil.which("taco", path=str(Path(sys.executable).parent))
    assert script is not None, "the taco console script is not installed: pip install -e ."
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout == taco.ok("--version").out


# -- errors ------------------------------------------------------------------


def test_server_down_is_a_clear_message_and_exit_1(taco: Taco) -> None:
    """An unreachable server: exit 1, one message naming the URL, no traceback."""
    url = f"http://127.0.0.1:{free_port()}"
    result = taco("unit", "ls", env={"OPENTACO_SERVER": url})
    assert result.code == 1, result
    assert f"cannot reach the OpenTaco server at {url}" in result.err
    assert "--server" in result.err
    assert "Traceback" not in result.err
    as_json = taco("--json", "unit", "info", "x", env={"OPENTACO_SERVER": url})
    assert json.loads(as_json.err)["exit_code"] == 1


def test_missing_unit_exits_4(taco: Taco, unit_id: str) -> None:
    """info, pull, rm, lock on a missing unit: exit 4 naming the unit."""
    for command in (["info"], ["pull"], ["rm"], ["lock"], ["versions"]):
        result = taco("unit", *command, unit_id)
        assert result.code == 4, result
        assert f"unit {unit_id!r} not found" in result.err
        assert "Traceback" not in result.err


def test_pull_of_a_unit_without_state_exits_4(taco: Taco, unit_id: str) -> None:
    """pull before any push says so and exits 4; a missing version too."""
    taco.ok("unit", "create", unit_id)
    result = taco("unit", "pull", unit_id)
    assert result.code == 4 and "has no state yet" in result.err, result
    result = taco("unit", "pull", unit_id, "--version", "7")
    assert result.code == 4 and "has no version 7" in result.err, result


def test_already_exists_exits_1_with_message(taco: Taco, unit_id: str) -> None:
    """Creating an existing unit: exit 1, 'already exists'."""
    taco.ok("unit", "create", unit_id)
    result = taco("unit", "create", unit_id)
    assert result.code == 1, result
    assert result.err == f"taco: unit {unit_id!r} already exists\n"


def test_lock_conflict_exits_3_and_prints_the_holder(
    taco: Taco, unit_id: str, tmp_path: Path
) -> None:
    """A second locker in another directory: exit 3 and the holder's Who/ID/Since."""
    taco.ok("unit", "create", unit_id)
    holder = taco.ok("--json", "unit", "lock", unit_id).json()["lock"]
    other = tmp_path / "other"
    other.mkdir()
    result = taco("unit", "lock", unit_id, cwd=other)
    assert result.code == 3, result
    assert f"is locked by lock {holder['id']}" in result.err
    assert f"Who:       {holder['who']}" in result.err
    assert f"ID:        {holder['id']}" in result.err
    assert "Since:" in result.err
    as_json = taco("--json", "unit", "lock", unit_id, cwd=other)
    doc = json.loads(as_json.err)
    assert as_json.code == 3 and doc["lock"]["id"] == holder["id"] and doc["kind"] == "LockConflict"


def test_push_by_a_non_holder_exits_3(taco: Taco, unit_id: str, tmp_path: Path) -> None:
    """push from a directory without the lock ID is refused with the holder: exit 3."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "lock", unit_id)
    other = tmp_path / "other"
    other.mkdir()
    result = taco("unit", "push", unit_id, "-", stdin=state(1), cwd=other)
    assert result.code == 3, result
    assert "Lock held by:" in result.err
    result = taco("unit", "unlock", unit_id, "not-the-lock-id", cwd=other)
    assert result.code == 3, result


def test_unlock_and_release_without_a_saved_lock_are_usage_errors(taco: Taco, unit_id: str) -> None:
    """No saved lock ID and none given: exit 2 saying how to get one."""
    taco.ok("unit", "create", unit_id)
    for command in (["unlock", unit_id], ["release", unit_id, "-"]):
        result = taco("unit", *command)
        assert result.code == 2, result
        assert f"no saved lock ID for unit {unit_id!r}" in result.err
        assert f"taco unit lock {unit_id}" in result.err


def test_invalid_id_is_a_usage_error_naming_the_rule(taco: Taco) -> None:
    """A malformed or reserved ID is refused before any request, with the rule."""
    result = taco("unit", "create", "a//b")
    assert result.code == 2 and "empty segment" in result.err, result
    result = taco("unit", "info", "a/../b")
    assert result.code == 2 and "'..' segment" in result.err, result
    result = taco("unit", "create", "__opentaco_x")
    assert result.code == 2 and "reserved prefix" in result.err, result


def test_refused_write_exits_1_and_names_the_quarantined_version(taco: Taco, unit_id: str) -> None:
    """An older serial is refused by the server's guard; --force pushes it anyway."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(5))
    result = taco("unit", "push", unit_id, "-", stdin=state(4))
    assert result.code == 1, result
    assert "serial 4 is older than the current serial 5" in result.err
    assert f"taco unit pull {unit_id} --version 2" in result.err
    taco.ok("unit", "push", unit_id, "-", "--force", stdin=state(4))


def test_invalid_state_and_missing_file_exit_1(taco: Taco, unit_id: str) -> None:
    """A non-JSON state and an unreadable file fail with exit 1 and a message."""
    taco.ok("unit", "create", unit_id)
    result = taco("unit", "push", unit_id, "-", stdin=b"not json")
    assert result.code == 1 and "not valid JSON" in result.err, result
    result = taco("unit", "push", unit_id, "missing.json")
    assert result.code == 1 and "cannot read state file 'missing.json'" in result.err, result


def test_usage_errors_exit_2(taco: Taco) -> None:
    """Bad arguments, a bad server URL and --server with --embedded: exit 2."""
    assert taco("unit").code == 2
    assert taco("unit", "frobnicate").code == 2
    assert taco("unit", "create", "x", "--label", "novalue").code == 2
    result = taco("--server", "localhost:8080", "unit", "ls")
    assert result.code == 2 and "http:// or https://" in result.err, result
    result = taco("--server", "http://x", "--embedded", "t.db", "unit", "ls")
    assert result.code == 2 and "exclude each other" in result.err, result


def test_diff_shows_changed_outputs_masks_sensitive_and_json(taco: Taco, unit_id: str) -> None:
    """`taco unit diff` prints the last change with sensitive values masked; --json too."""

    def doc(serial: int, value: str) -> bytes:
        return json.dumps(
            {"version": 4, "serial": serial, "lineage": "L", "resources": [],
             "outputs": {"g": {"value": value, "type": "string"},
                         "pw": {"value": value + "-secret", "sensitive": True}}}
        ).encode()  # fmt: skip

    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=doc(1, "one"))
    taco.ok("unit", "push", unit_id, "-", stdin=doc(2, "two"))
    out = taco.ok("unit", "diff", unit_id).out
    assert "Changes from version 1 to version 2:" in out
    assert "~ output.g: one -> two" in out
    assert "~ output.pw: (sensitive) -> (sensitive)" in out
    assert "secret" not in out
    back = taco.ok("unit", "diff", unit_id, "--from", "2", "--to", "1", "--json").json()
    assert back["outputs"]["changed"][0] == {
        "name": "g", "before": "two", "after": "one", "sensitive": False,
    }  # fmt: skip
    assert taco("unit", "diff", unit_id, "--from", "9").code == 4
