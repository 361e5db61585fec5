"""The lab registers each ISP's address space as its sites' prefixes, before the sites."""

from __future__ import annotations

from lab.plan import default_plan


def test_each_isp_gets_its_sites_prefixes_and_none_overlaps() -> None:
    plan = default_plan()
    allocations = plan.isp_allocations()
    assert set(allocations) == {site.isp for site in plan.sites if site.prefixes}
    for site in plan.sites:
        assert set(site.prefixes) <= set(allocations[site.isp])
    blocks = [block for isp_blocks in allocations.values() for block in isp_blocks]
    assert len(blocks) == len(set(blocks)), "an ISP's space is its own"
