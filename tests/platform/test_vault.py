"""The data-key vault read by several processes: a key another process made is used at the next call."""

from hutong.platform.vault import Vault


def test_a_data_key_rotated_by_another_process_is_seen_at_the_next_use(tmp_path):
    server, staff = Vault(tmp_path / "keys"), Vault(tmp_path / "keys")  # as two processes over one folder
    old = server.encrypt("13800000000", context="dev:1")
    assert staff.decrypt(old, context="dev:1") == "13800000000"
    kid = staff.rotate()  # `hutong platform rotate-data-key`, which then re-encrypts every record
    new = staff.encrypt("13800000000", context="dev:1")
    assert Vault.key_id(new) == kid != Vault.key_id(old)
    assert server.decrypt(new, context="dev:1") == "13800000000"  # before: "data key … is not in …"
    assert server.active == kid and Vault.key_id(server.encrypt("x", context="dev:2")) == kid
    assert server.decrypt(old, context="dev:1") == "13800000000"  # retired keys still decrypt
