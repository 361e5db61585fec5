"""Lambda packaging pieces that need no download: the zip writer and the failure paths."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.errors import PackagingError
from infra.packaging import (
    archive_entries,
    find_uv,
    install_dependencies,
    locked_requirements,
    write_reproducible_zip,
)


def test_zip_is_byte_identical_whatever_the_files_times_and_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for root, order in ((first, ["z.py", "a/b.py"]), (second, ["a/b.py", "z.py"])):
        for name in order:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {name}\n")
    (second / "z.py").touch()  # a newer mtime must not change the archive
    zips = [
        write_reproducible_zip(
            {n: root / n for n in ("z.py", "a/b.py")}, tmp_path / f"{root.name}.zip"
        )
        for root in (first, second)
    ]
    digests = {hashlib.sha256(z.read_bytes()).hexdigest() for z in zips}
    assert len(digests) == 1
    with zipfile.ZipFile(zips[0]) as archive:
        assert archive.namelist() == ["a/b.py", "z.py"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert sorted(p.name for p in tmp_path.glob("*.zip*")) == ["a.zip", "b.zip"]
    assert not list(tmp_path.glob(".*"))  # no partial file left beside them


def test_entries_hold_our_packages_the_entry_module_and_no_bytecode_or_lab_code(
    tmp_path: Path,
) -> None:
    dependencies = tmp_path / "deps"
    (dependencies / "fastapi" / "__pycache__").mkdir(parents=True)
    (dependencies / "fastapi" / "__init__.py").write_text("")
    (dependencies / "fastapi" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    (dependencies / "bin").mkdir()
    (dependencies / "bin" / "uvicorn").write_text("#!/bin/sh\n")
    entries = archive_entries(dependencies=dependencies)
    assert "fastapi/__init__.py" in entries and "control_plane/lambda_entry.py" in entries
    assert "control_plane/services.py" in entries and "edgefill_contracts/manifest.py" in entries
    assert not [name for name in entries if name.endswith(".pyc") or name.startswith("bin/")]
    # Only the services and the contracts: the seeder, the Pulumi mocks, the materializer
    # (lab/) and the Pulumi program (infra/) never ship in a Lambda.
    assert {name.split("/", 1)[0] for name in entries} == {
        "fastapi",
        "control_plane",
        "edgefill_contracts",
    }
    assert not [name for name in entries if "seed" in name or "mocks" in name]


def test_missing_uv_is_reported_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEFILL_UV", str(tmp_path / "no-uv"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(PackagingError, match="make bootstrap"):
        find_uv()


def test_export_outside_a_locked_project_fails_with_uvs_reason(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    with pytest.raises(
        PackagingError, match=r"(?s)uv export .* failed \(exit \d+\):\n.*\nfix: `make bootstrap`"
    ):
        locked_requirements(uv=find_uv(), project_root=tmp_path)


def test_a_wheel_that_cannot_be_had_fails_and_leaves_no_partial_directory(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="uv pip install for x86_64-manylinux2014 failed"):
        install_dependencies(
            requirements="edgefill-no-such-package-zz==0.0.1\n",
            python_platform="x86_64-manylinux2014",
            cache_dir=tmp_path,
            uv=find_uv(),
            offline=True,
        )
    # Only the (empty) lock file stays: no staging or published directory.
    assert [p.name for p in tmp_path.iterdir()] == [
        f"{p.name}" for p in tmp_path.glob("deps-x86_64-manylinux2014-*.lock")
    ]
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]


def test_the_pulumi_program_does_not_import_the_web_stack() -> None:
    # infra reads the entry module's names; FastAPI, Mangum and boto3 load only in the Lambda.
    probe = (
        "import sys, infra.stack, control_plane.lambda_entry; "
        "print(sorted(m for m in ('fastapi', 'mangum', 'starlette', 'boto3') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
