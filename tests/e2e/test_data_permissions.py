"""What otelfuse stores is readable by its own user only (#15 item 9: the data folder was
created with the default mode, 0755 / 0644 under umask 022, so span input was readable in clear
by any local user)."""

from __future__ import annotations

import stat

from tests.support.service import Service


def test_stored_files_are_private_to_the_service_user(service: Service) -> None:
    storage = service.data_dir / "clickhouse"
    paths = [storage, *storage.rglob("*")]
    assert len(paths) > 10  # the tables exist
    exposed = [
        f"{p.relative_to(service.data_dir)} {stat.filemode(p.stat().st_mode)}"
        for p in paths
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]
    assert exposed == []
