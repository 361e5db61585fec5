"""The local lab behind `make demo`: the whole CDN on one machine (moto, uvicorn, podman)."""
