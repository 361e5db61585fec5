"""Popularity: bytes streamed / asset size per content unit, decayed daily."""
