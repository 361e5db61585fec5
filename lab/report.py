"""The lab report: what each appliance holds and served, where fills came from, where clients went.

Written three ways from one model: a rich table on the terminal, `lab-report/report.json`, and
`lab-report/index.html` with plain inline SVG bar charts (no plotting dependency needed).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, computed_field
from rich.console import Console
from rich.table import Table


class ApplianceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appliance_id: str
    site_id: str
    state: str
    manifest_version: str | None
    objects_held: int
    bytes_held: int
    fill_bytes_from_peers: int
    fill_bytes_from_origin: int
    requests_served: int
    bytes_served: int
    bytes_counted: int = Field(
        default=0, description="Body bytes its agent counted for served reports (2xx, no fills)."
    )
    bytes_reported: int = Field(
        default=0, description="Bytes its served reports gave the control plane (popularity)."
    )
    errors: list[str] = Field(default_factory=list)


class PlayReport(BaseModel):
    """One client playing one title: where steering sent it and where each byte came from."""

    model_config = ConfigDict(extra="forbid")

    client: str
    client_ip: str
    title_id: str
    rendition: str
    steered_to: list[str] = Field(description="Appliance ids in the order steering ranked them.")
    segments: int
    bytes_by_source: dict[str, int] = Field(description="appliance id or 'origin' -> bytes.")
    failovers: int = 0
    ok: bool
    error: str | None = None


class PlayerLinks(BaseModel):
    """A session any standard player can open from the host that ran the demo (6 h)."""

    model_config = ConfigDict(extra="forbid")

    viewer: str
    title_id: str
    hls_url: str
    dash_url: str
    steering_url: str = Field(description="The HLS steering server of the session.")
    dash_steering_url: str
    pathways: list[str]
    expires_at: str
    page_url: str | None = Field(
        default=None, description="The lab's player page (hls.js) playing `hls_url`."
    )


class SiteReport(BaseModel):
    # "ignore": the JSON carries the computed hit_ratio, which is derived again on reading.
    model_config = ConfigDict(extra="ignore")

    site_id: str
    plays: int
    bytes_from_site: int
    bytes_total: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hit_ratio(self) -> float:
        return self.bytes_from_site / self.bytes_total if self.bytes_total else 0.0


class LabReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generated_at: str
    control_plane_url: str
    appliances: list[ApplianceReport]
    plays: list[PlayReport]
    sites: list[SiteReport]
    players: list[PlayerLinks] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def all_plays_ok(self) -> bool:
        return all(play.ok for play in self.plays)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def print_report(report: LabReport, console: Console) -> None:
    appliances = Table(title="Appliances")
    for column in (
        "appliance",
        "site",
        "state",
        "manifest",
        "objects",
        "held",
        "fill peer",
        "fill origin",
        "requests",
        "served",
        "reported",
    ):
        appliances.add_column(column)
    for a in report.appliances:
        appliances.add_row(
            a.appliance_id,
            a.site_id,
            a.state,
            a.manifest_version or "-",
            str(a.objects_held),
            _mib(a.bytes_held),
            _mib(a.fill_bytes_from_peers),
            _mib(a.fill_bytes_from_origin),
            str(a.requests_served),
            _mib(a.bytes_served),
            _mib(a.bytes_reported),
        )
    console.print(appliances)
    plays = Table(title="Plays")
    for column in (
        "client",
        "client ip",
        "title",
        "steered to",
        "bytes by source",
        "failovers",
        "ok",
    ):
        plays.add_column(column)
    for p in report.plays:
        sources = ", ".join(f"{k}={_mib(v)}" for k, v in sorted(p.bytes_by_source.items()))
        plays.add_row(
            p.client,
            p.client_ip,
            f"{p.title_id}/{p.rendition}",
            " > ".join(p.steered_to) or "origin only",
            sources,
            str(p.failovers),
            "yes" if p.ok else f"NO: {p.error}",
        )
    console.print(plays)
    sites = Table(title="Hit ratio per site (bytes served from inside the client's site)")
    for column in ("site", "plays", "from site", "total", "hit ratio"):
        sites.add_column(column)
    for s in report.sites:
        sites.add_row(
            s.site_id,
            str(s.plays),
            _mib(s.bytes_from_site),
            _mib(s.bytes_total),
            f"{s.hit_ratio:.0%}",
        )
    console.print(sites)
    for error in report.errors:
        console.print(f"[red]error:[/red] {error}")


def _bar_chart(title: str, bars: list[tuple[str, float]], unit: str) -> str:
    """A horizontal SVG bar chart; labels escaped, widths scaled to the largest bar."""
    width, row, label_w = 640, 26, 170
    top = max((value for _, value in bars), default=0.0) or 1.0
    height = 30 + row * len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<text x="4" y="18" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = 30 + i * row
        w = (width - label_w - 90) * value / top
        parts.append(f'<text x="4" y="{y + 16}">{html.escape(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="16" fill="#3b7dd8"/>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{value:.1f} {unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: LabReport) -> str:
    mib = 1 << 20
    charts = [
        _bar_chart(
            "Fill from peers (MiB)",
            [(a.appliance_id, a.fill_bytes_from_peers / mib) for a in report.appliances],
            "MiB",
        ),
        _bar_chart(
            "Fill from origin (MiB)",
            [(a.appliance_id, a.fill_bytes_from_origin / mib) for a in report.appliances],
            "MiB",
        ),
        _bar_chart(
            "Bytes served (MiB)",
            [(a.appliance_id, a.bytes_served / mib) for a in report.appliances],
            "MiB",
        ),
        _bar_chart(
            "Hit ratio per site (%)", [(s.site_id, 100 * s.hit_ratio) for s in report.sites], "%"
        ),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(p.client)}</td><td>{html.escape(p.client_ip)}</td>"
        f"<td>{html.escape(p.title_id)}/{html.escape(p.rendition)}</td>"
        f"<td>{html.escape(' > '.join(p.steered_to) or 'origin only')}</td>"
        f"<td>{'ok' if p.ok else html.escape(p.error or 'failed')}</td></tr>"
        for p in report.plays
    )
    errors = "".join(f"<li>{html.escape(e)}</li>" for e in report.errors) or "<li>none</li>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgefill lab report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left}"
        "</style></head><body>"
        f"<h1>edgefill lab report</h1><p>Generated {html.escape(report.generated_at)}; "
        f"control plane {html.escape(report.control_plane_url)}.</p>"
        + "".join(f"<div>{chart}</div>" for chart in charts)
        + "<h2>Plays</h2><table><tr><th>client</th><th>ip</th><th>title</th>"
        f"<th>steered to</th><th>result</th></tr>{rows}</table>"
        f"<h2>Errors</h2><ul>{errors}</ul></body></html>"
    )


def write_report(report: LabReport, directory: Path) -> tuple[Path, Path]:
    """Write report.json and index.html atomically into `directory`; return both paths."""
    json_path, html_path = write_files(
        directory,
        {"report.json": report.model_dump_json(indent=2), "index.html": render_html(report)},
    )
    return json_path, html_path


def write_files(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write each named text into `directory` atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written
