"""Where an access-log tail stands, saved with the served ledger so a restart resumes there."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

HEAD_BYTES = 256  # the first bytes that tell one log file from the next at the same inode


class TailPosition(BaseModel):
    """Where a tail stands: the file (inode and first bytes) and the end of its last whole line."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    inode: int = Field(ge=0)
    offset: int = Field(ge=0, description="Bytes up to the end of the last whole line read.")
    head: bytes = Field(max_length=HEAD_BYTES, description="The file's first bytes.")
