"""What the lab builds: ISPs, sites, clusters, appliances, titles and clients (the defaults)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

GIB = 1 << 30


class LabAppliance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    cluster_id: str
    host_suffix: int = Field(ge=10, le=250, description="Last octet of its lab network address.")
    fill_first: bool = Field(
        default=True,
        description="Fill in the first round; the others fill after it, so peers can serve them.",
    )


class LabSite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str
    isp: str
    location: str
    timezone: str
    prefixes: list[str]
    appliances: list[LabAppliance]


class LabClient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    ip: str
    expect_site: str | None = Field(description="The site steering should pick; None: origin.")


class LabPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subnet_octets: str = Field(default="10.89.41", description="The lab's podman /24 network.")
    titles: int = Field(default=6, ge=1, le=200)
    renditions: list[str] = Field(default_factory=lambda: ["360p", "180p"])
    seconds_per_title: int = Field(default=4, ge=2, le=60)
    appliance_byte_budget: int = 2 * GIB
    plays_per_client: int = Field(default=2, ge=1, le=50)
    sites: list[LabSite]
    clients: list[LabClient]

    @property
    def gateway_ip(self) -> str:
        return f"{self.subnet_octets}.1"

    @property
    def subnet(self) -> str:
        return f"{self.subnet_octets}.0/24"

    def appliance_ip(self, appliance: LabAppliance) -> str:
        return f"{self.subnet_octets}.{appliance.host_suffix}"

    def all_appliances(self) -> list[tuple[LabSite, LabAppliance]]:
        return [(site, a) for site in self.sites for a in site.appliances]

    def isp_allocations(self) -> dict[str, list[str]]:
        """Each ISP's address space as the lab registers it: its sites' prefixes."""
        blocks: dict[str, set[str]] = {}
        for site in self.sites:
            blocks.setdefault(site.isp, set()).update(site.prefixes)
        return {isp: sorted(prefixes) for isp, prefixes in sorted(blocks.items()) if prefixes}


def default_plan(*, titles: int = 6) -> LabPlan:
    """Two ISPs, two sites; the Amsterdam cluster has two appliances, so one can peer-fill."""
    return LabPlan(
        titles=titles,
        sites=[
            LabSite(
                site_id="ams1",
                isp="isp-north",
                location="Amsterdam, NL",
                timezone="Europe/Amsterdam",
                prefixes=["198.51.100.0/24", "2001:db8:100::/48"],
                appliances=[
                    LabAppliance(appliance_id="ams1-a", cluster_id="ams1-c1", host_suffix=11),
                    LabAppliance(
                        appliance_id="ams1-b",
                        cluster_id="ams1-c1",
                        host_suffix=12,
                        fill_first=False,
                    ),
                ],
            ),
            LabSite(
                site_id="fra1",
                isp="isp-south",
                location="Frankfurt, DE",
                timezone="Europe/Berlin",
                prefixes=["203.0.113.0/24"],
                appliances=[
                    LabAppliance(appliance_id="fra1-a", cluster_id="fra1-c1", host_suffix=21),
                ],
            ),
        ],
        clients=[
            LabClient(name="anna@ams", ip="198.51.100.23", expect_site="ams1"),
            LabClient(name="bram@ams-v6", ip="2001:db8:100::23", expect_site="ams1"),
            LabClient(name="carla@fra", ip="203.0.113.40", expect_site="fra1"),
            LabClient(name="dev@elsewhere", ip="100.64.9.9", expect_site=None),
        ],
    )


def shut_fill_window(timezone: str, *, now: datetime | None = None) -> dict[str, str]:
    """A one-minute fill window about 12 hours from now in `timezone`, so no daemon opens it
    during a lab run: the lab fills when it says so (`appliance-agent fill --now`), in order.

    On the hour, so that provisioning the same lab again within the hour renders the same.
    """
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)) + timedelta(hours=12)
    return {"start": f"{local.hour:02d}:00", "end": f"{local.hour:02d}:01", "timezone": timezone}
