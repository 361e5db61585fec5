"""FillCycle.run_once, the one fill sequence the daemon and `appliance-agent fill` share:
whether to fill is decided afresh each run, from the manifest and the store's own index."""

from __future__ import annotations

from appliance_agent.fill_cycle import CycleResult, FillCycle, http_client
from tests.integration.agent_fill.agent_lab import AgentLab, make_objects, manifest_body
from tests.integration.agent_fill.conftest import S3Origin


def run_once(lab: AgentLab) -> CycleResult:
    config = lab.config()
    with http_client(config) as client:
        return FillCycle(config, client=client).run_once()


def test_no_usable_manifest_and_none_cached_fills_nothing(lab: AgentLab) -> None:
    lab.fleet.serve_body(b"not a manifest", version="v0")  # nothing the agent can use
    assert run_once(lab) == CycleResult(outcome="no manifest")
    assert lab.index() == {}


def test_a_held_manifest_is_not_filled_again_and_a_new_one_is(
    lab: AgentLab, origin: S3Origin
) -> None:
    objects = make_objects(3, min_size=100, max_size=2000, seed=71)
    origin.put(objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o)], version="v1"))

    first = run_once(lab)
    assert (first.outcome, first.version) == ("filled", "v1")
    assert first.report is not None and first.report.result == "ok"
    served = {p: p.stat().st_mtime_ns for p in lab.objects_dir.rglob("*") if p.is_file()}

    again = run_once(lab)
    assert (again.outcome, again.version, again.report) == ("held", "v1", None)
    assert {p: p.stat().st_mtime_ns for p in served} == served, "nothing fetched again"

    more = make_objects(4, min_size=100, max_size=2000, seed=72)
    origin.put(more)
    lab.fleet.serve(manifest_body(more, lambda o: [origin.url(o)], version="v2"))
    new = run_once(lab)
    assert (new.outcome, new.version) == ("filled", "v2")
    assert lab.index() == {o.key: o.sha256 for o in more}


def test_an_incomplete_fill_is_filled_again_at_the_next_run(
    lab: AgentLab, origin: S3Origin
) -> None:
    objects = make_objects(2, min_size=100, max_size=2000, seed=73)
    origin.put(objects[:1])  # the second object is nowhere yet
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o)], version="v1"))
    partial = run_once(lab)
    assert partial.report is not None and partial.report.result == "partial"

    origin.put(objects[1:])
    retried = run_once(lab)
    assert retried.outcome == "filled", "same manifest, but the store does not hold it whole"
    assert retried.report is not None and retried.report.result == "ok"
    assert lab.index() == {o.key: o.sha256 for o in objects}
