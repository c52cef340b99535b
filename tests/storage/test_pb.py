"""The committed protobuf code in storage/_pb matches proto/ (regenerate with `make proto`)."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]


def test_generated_records_are_fresh(tmp_path: Path) -> None:
    code = protoc.main(
        [
            "protoc",
            f"-I{REPO / 'proto'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(REPO / "proto/otelfuse/v1/records.proto"),
        ]
    )
    assert code == 0
    for name in ("records_pb2.py", "records_pb2.pyi"):
        fresh = (tmp_path / "otelfuse/v1" / name).read_text()
        committed = (REPO / "storage/_pb/otelfuse/v1" / name).read_text()
        assert committed == fresh, f"storage/_pb/otelfuse/v1/{name} is stale: run `make proto`"
