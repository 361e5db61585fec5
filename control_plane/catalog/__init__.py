"""Catalog service: titles with metadata and media files, and the search over them."""
