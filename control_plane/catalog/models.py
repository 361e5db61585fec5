"""Catalog models: titles, their renditions and media files, maturity ratings, search pages."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgefill_contracts.manifest import SHA256_PATTERN
from edgefill_contracts.object_key import ObjectKey

TITLE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
TitleId = Annotated[str, Field(pattern=TITLE_ID_PATTERN)]
_RENDITION = re.compile(r"^([0-9]{3,4})p$")


class MaturityRating(StrEnum):
    """Ratings in increasing order of maturity; a profile allows its own rating and below."""

    G = "G"
    PG = "PG"
    PG_13 = "PG-13"
    R = "R"
    NC_17 = "NC-17"

    @property
    def rank(self) -> int:
        return _RATING_ORDER.index(self)

    def allows(self, rating: MaturityRating) -> bool:
        """Whether a profile limited to this rating may watch a title rated `rating`."""
        return rating.rank <= self.rank


_RATING_ORDER = list(MaturityRating)


class MediaFile(BaseModel):
    """One object in the origin bucket, with what a manifest needs to verify it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: ObjectKey
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN)


_BYTE_RANGE = r"^[0-9]{1,15}-[0-9]{1,15}$"


class SingleFileIndex(BaseModel):
    """Where DASH finds the parts of a single-file rendition (SegmentBase): the init section
    and the segment index (`sidx`) as inclusive byte ranges of `media`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    media: ObjectKey
    initialization: str = Field(pattern=_BYTE_RANGE, examples=["0-793"])
    index_range: str = Field(pattern=_BYTE_RANGE, examples=["794-869"])
    duration_s: float = Field(gt=0)


class AudioTrack(BaseModel):
    """The sound of a rendition: a single-file track stored in the rendition's own directory
    (so a rendition, the unit placement moves, plays with sound wherever it is held)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str = Field(pattern=r"^[a-z]{2,3}$", examples=["en"])
    name: str = Field(min_length=1, max_length=64, pattern=r'^[^"\r\n]+$', examples=["English"])
    channels: int = Field(ge=1, le=16)
    bandwidth: int = Field(gt=0, description="Peak bits per second.")
    codecs: str = Field(pattern=r"^[A-Za-z0-9.]+$", examples=["mp4a.40.2"])
    playlist: ObjectKey
    single_file: SingleFileIndex


class Rendition(BaseModel):
    """One encoding of a title: an HLS media playlist and the file(s) it addresses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_RENDITION.pattern, examples=["360p"])
    bandwidth: int = Field(gt=0, description="Peak bits per second, as in the HLS playlist.")
    width: int | None = Field(default=None, gt=0, le=16_384, description="Picture width.")
    codecs: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.]+(,[A-Za-z0-9.]+)*$",
        description="RFC 6381 codecs of the media file (HLS CODECS, DASH @codecs).",
        examples=["avc1.42c01e"],
    )
    playlist: ObjectKey
    files: tuple[MediaFile, ...] = Field(min_length=1)
    single_file: SingleFileIndex | None = Field(
        default=None, description="Set for a single-file (CMAF) rendition: what DASH needs."
    )
    audio: AudioTrack | None = Field(default=None, description="Its sound, beside it.")

    @property
    def height(self) -> int:
        match = _RENDITION.match(self.name)
        return int(match[1]) if match else 0

    @model_validator(mode="after")
    def _playlist_is_one_of_the_files(self) -> Rendition:
        keys = {f.key for f in self.files}
        if self.playlist not in keys:
            raise ValueError(f"playlist {self.playlist!r} is not among the rendition's files")
        if self.single_file is not None and self.single_file.media not in keys:
            raise ValueError(
                f"single-file media {self.single_file.media!r} is not among the rendition's files"
            )
        if self.audio is not None:
            for key in (self.audio.playlist, self.audio.single_file.media):
                if key not in keys:
                    raise ValueError(f"audio file {key!r} is not among the rendition's files")
        return self


class TitleSummary(BaseModel):
    """What a listing or a search result shows: no file list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_id: TitleId
    name: str = Field(min_length=1, max_length=200)
    genres: tuple[str, ...] = ()
    year: int = Field(ge=1888, le=2100)
    maturity: MaturityRating
    popularity: float = Field(ge=0, description="Relative demand; higher is more watched.")


class Title(TitleSummary):
    """A title with everything playback and manifests need."""

    synopsis: str = Field(default="", max_length=2000)
    cast: tuple[str, ...] = ()
    renditions: tuple[Rendition, ...] = ()

    @model_validator(mode="after")
    def _files_live_under_their_rendition(self) -> Title:
        # A playback token covers one rendition's directory (edgefill_contracts.signing).
        for rendition in self.renditions:
            directory = f"{self.title_id}/{rendition.name}/"
            for media in rendition.files:
                if not media.key.startswith(directory):
                    raise ValueError(f"file {media.key!r} is not under {directory}")
        return self

    def summary(self) -> TitleSummary:
        return TitleSummary.model_validate(self.model_dump(include=set(TitleSummary.model_fields)))

    def rendition(self, name: str) -> Rendition | None:
        return next((r for r in self.renditions if r.name == name), None)


class SearchPage(BaseModel):
    """One page of search results, best first; `total` counts every match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    total: int
    offset: int
    limit: int
    results: list[TitleSummary]
