"""Serving: the nginx the agent renders, validates, swaps in and reloads; secrets, TLS, drain.

How an appliance runs it (what the Ansible nginx role's systemd unit must do):

    nginx -p <serve.runtime_dir>/ -c <serve.config_root>/current/nginx.conf
    ExecReload: appliance-agent render-nginx    (or kill -HUP; never edit files in place)

`current` is a symlink to the last release that passed `nginx -t` (install.py); the pid file
is <runtime_dir>/nginx.pid. The agent fetches signing secrets and the certificate, renders
into a new release, checks it whole, swaps the symlink and sends SIGHUP, waiting until new
workers run; if nginx keeps its old config, the symlink goes back. Content is served from
<store>/objects/<title>/<rest> under signed paths (edgefill_contracts.signing), stub_status
listens on 127.0.0.1:<status_port>, and the JSON access log format is in log_format.py.
"""

from __future__ import annotations
