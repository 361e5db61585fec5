"""Ansible inventory plugin `edgefill_fleet`: appliances, sites and groups from the fleet registry.

Errors surface as AnsibleParserError (ansible's own type for an inventory source that cannot be
read); the message names the URL (without the token), what went wrong and what to check.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError, URLError

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.module_utils.urls import open_url

from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

DOCUMENTATION = r"""
name: edgefill_fleet
short_description: edgefill appliances from the fleet registry API
description:
  - Reads C(GET <url>/fleet/v1/inventory) with the fleet admin bearer token and adds every
    appliance as a host, in the groups C(appliances), C(isp_<isp>), C(site_<site>) and
    C(cluster_<cluster>).
  - Sets host variables the roles read (C(appliance_agent_id), C(appliance_host_timezone),
    C(appliance_agent_fill_window)) and C(edgefill_*) facts about the appliance (isp, site,
    cluster, state, healthy, agent version, site prefixes).
  - Supports C(compose), C(groups) and C(keyed_groups) over those variables, and caching.
  - The configuration file name must end in C(.edgefill_fleet.yml) or C(.edgefill_fleet.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    choices: [edgefill_fleet]
  url:
    description: Base URL of the fleet API.
    type: str
    required: true
    env:
      - name: EDGEFILL_FLEET_API_URL
  token:
    description: Fleet admin bearer token. Keep it out of the file; use the environment or a vault.
    type: str
    required: true
    env:
      - name: EDGEFILL_FLEET_ADMIN_TOKEN
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the API.
    type: int
    default: 30
  states:
    description: Only appliances in these states (Serving, Draining, Drained); empty for all.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# inventories/fleet/fleet.edgefill_fleet.yml; token from EDGEFILL_FLEET_ADMIN_TOKEN
plugin: edgefill_fleet
url: https://fleet.example.net
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/edgefill/inventory
cache_timeout: 300
keyed_groups:
  - key: edgefill_state
    prefix: state
compose:
  appliance_agent_byte_budget: edgefill_capacity_bytes * 0.9
groups:
  unhealthy: not edgefill_healthy
"""

INVENTORY_PATH = "/fleet/v1/inventory"
GROUP_ALL = "appliances"


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Builds the inventory from the fleet registry's answer (see DOCUMENTATION)."""

    NAME = "edgefill_fleet"

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(
            (".edgefill_fleet.yml", ".edgefill_fleet.yaml")
        )

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = bool(self.get_option("cache"))
        registry: dict[str, Any] | None = None
        if use_cache and cache:
            try:
                registry = self._cache[cache_key]
            except KeyError:
                registry = None
        if registry is None:
            registry = self._fetch()
            if use_cache:
                self._cache[cache_key] = registry
        self._populate(registry)

    def _fetch(self) -> dict[str, Any]:
        url = str(self.get_option("url")).rstrip("/") + INVENTORY_PATH
        try:
            response = open_url(
                url,
                headers={
                    "Authorization": f"Bearer {self.get_option('token')}",
                    "Accept": "application/json",
                },
                validate_certs=self.get_option("validate_certs"),
                timeout=self.get_option("timeout"),
            )
            body = response.read()
        except HTTPError as exc:
            hint = (
                "check the admin token (EDGEFILL_FLEET_ADMIN_TOKEN)"
                if exc.code in (401, 403)
                else "check the URL and the control plane's logs"
            )
            raise AnsibleParserError(
                f"edgefill_fleet: GET {url} answered HTTP {exc.code}: {hint}"
            ) from exc
        except (URLError, OSError) as exc:
            raise AnsibleParserError(
                f"edgefill_fleet: GET {url} failed ({exc}): check that the fleet API is "
                "reachable from the controller"
            ) from exc
        try:
            registry = json.loads(body)
        except ValueError as exc:
            raise AnsibleParserError(
                f"edgefill_fleet: GET {url} did not return JSON: check the url option points "
                "at the fleet API"
            ) from exc
        if not isinstance(registry, dict) or not isinstance(registry.get("appliances"), list):
            raise AnsibleParserError(
                f"edgefill_fleet: GET {url} returned JSON without an 'appliances' list: the "
                "API and this plugin disagree on the inventory format"
            )
        return registry

    def _populate(self, registry: dict[str, Any]) -> None:
        sites = {
            site["site"]: site
            for site in registry.get("sites", [])
            if isinstance(site, dict) and "site" in site
        }
        wanted_states = set(self.get_option("states") or [])
        strict = self.get_option("strict")
        self.inventory.add_group(GROUP_ALL)
        for appliance in registry["appliances"]:
            try:
                appliance_id = appliance["appliance_id"]
            except (KeyError, TypeError) as exc:
                raise AnsibleParserError(
                    f"edgefill_fleet: an appliance in the registry has no appliance_id: {appliance!r}"
                ) from exc
            if wanted_states and appliance.get("state") not in wanted_states:
                continue
            host_vars = self._host_vars(appliance, sites.get(appliance.get("site", "")))
            host = self.inventory.add_host(appliance_id, group=GROUP_ALL)
            for key, value in host_vars.items():
                self.inventory.set_variable(host, key, value)
            for kind in ("isp", "site", "cluster"):
                if appliance.get(kind):
                    group = self.inventory.add_group(
                        to_safe_group_name(f"{kind}_{appliance[kind]}", force=True)
                    )
                    self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option("compose"), host_vars, host, strict=strict)
            self._add_host_to_composed_groups(
                self.get_option("groups"), host_vars, host, strict=strict
            )
            self._add_host_to_keyed_groups(
                self.get_option("keyed_groups"), host_vars, host, strict=strict
            )

    @staticmethod
    def _host_vars(appliance: dict[str, Any], site: dict[str, Any] | None) -> dict[str, Any]:
        host_vars: dict[str, Any] = {
            "appliance_agent_id": appliance["appliance_id"],
            "edgefill_isp": appliance.get("isp"),
            "edgefill_site": appliance.get("site"),
            "edgefill_cluster": appliance.get("cluster"),
            "edgefill_state": appliance.get("state"),
            "edgefill_healthy": bool(appliance.get("healthy", False)),
            "edgefill_agent_version": appliance.get("agent_version"),
            "edgefill_capacity_bytes": appliance.get("capacity_bytes"),
        }
        if appliance.get("address"):
            host_vars["ansible_host"] = appliance["address"]
        if site is not None:
            host_vars["edgefill_site_prefixes"] = list(site.get("prefixes", []))
            if site.get("timezone"):
                host_vars["appliance_host_timezone"] = site["timezone"]
            if isinstance(site.get("fill_window"), dict):
                host_vars["appliance_agent_fill_window"] = site["fill_window"]
        return host_vars
