"""Build the stand-in agent as an `edgefill` wheel of a chosen version, offline, with zipfile."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

SOURCE = Path(__file__).with_name("standin_agent.py")
MODULE = "edgefill_standin_agent"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_standin_wheel(directory: Path, version: str) -> Path:
    """Write edgefill-<version>-py3-none-any.whl (console script appliance-agent) into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    source = re.sub(
        r'^VERSION = "0\.0\.0".*$',
        f'VERSION = "{version}"',
        SOURCE.read_text(),
        count=1,
        flags=re.MULTILINE,
    )
    dist_info = f"edgefill-{version}.dist-info"
    files = {
        f"{MODULE}.py": source.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: edgefill\nVersion: {version}\n"
            "Summary: stand-in agent for the Ansible tests\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: edgefill-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{dist_info}/entry_points.txt": (
            f"[console_scripts]\nappliance-agent = {MODULE}:main\n".encode()
        ),
    }
    wheel = directory / f"edgefill-{version}-py3-none-any.whl"
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel
