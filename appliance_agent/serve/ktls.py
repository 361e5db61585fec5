"""kTLS detection: does this kernel take TLS records off nginx's hands (TCP_ULP "tls")?

nginx asks OpenSSL for kTLS with `ssl_conf_command Options KTLS`; that only helps when the
kernel has the `tls` upper-layer protocol. The honest test is to ask the kernel: attach the
"tls" ULP to a connected loopback TCP socket. The heartbeat reports the result.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

logger = logging.getLogger(__name__)

TCP_ULP = getattr(socket, "TCP_ULP", 31)  # linux/tcp.h; Python exposes it from 3.12 on


def kernel_offers_ktls() -> bool:
    """True if the kernel accepts the "tls" ULP on a TCP socket (module loaded or loadable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname(), timeout=2.0) as client:
            server, _ = listener.accept()
            with server:
                try:
                    client.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
                except OSError as exc:
                    logger.info("kernel refuses the tls ULP (%s): kTLS is not available", exc)
                    return False
    return True


def ktls_connections(stat_file: Path = Path("/proc/net/tls_stat")) -> int:
    """Connections using kTLS now (TlsCurrTxSw + TlsCurrTxDevice), 0 without the module."""
    try:
        text = stat_file.read_text()
    except OSError:
        return 0
    counters = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
    return sum(int(counters.get(name, "0")) for name in ("TlsCurrTxSw", "TlsCurrTxDevice"))


def ktls_active(*, tls_enabled: bool, ktls_requested: bool) -> bool:
    """What the heartbeat reports: nginx serves TLS, asks for kTLS, and the kernel offers it."""
    return tls_enabled and ktls_requested and kernel_offers_ktls()
