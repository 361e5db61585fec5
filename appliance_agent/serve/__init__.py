"""Serving: the nginx the agent renders, validates, swaps in and reloads; secrets, TLS, drain.

How an appliance runs it (what the Ansible nginx role's systemd unit does): the master as root,
its workers as `serve.nginx_user`, and

    nginx -p <serve.runtime_dir>/ -c <serve.config_root>/current/nginx.conf \
          -g "pid <serve.runtime_dir>/nginx.pid;"
    ExecReload: the same with -t -q, then kill -HUP $MAINPID

`current` is a symlink to the last release that passed `nginx -t` (install.py). The agent
fetches signing secrets and the certificate, renders into a new release, checks it whole (as
itself, with a pid file of its own), swaps the symlink and asks for a reload (it writes
`serve.reload_request_file`, which a systemd path unit turns into `systemctl reload nginx`; or
sends SIGHUP to a master of its own user), waiting until new workers run; if nginx keeps its
old config, the symlink goes back. Content is served from
<store>/objects/<title>/<rest> under signed paths (edgefill_contracts.signing), stub_status
listens on 127.0.0.1:<status_port>, and the JSON access log format is in log_format.py.
"""

from __future__ import annotations
