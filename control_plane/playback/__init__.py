"""Playback service: entitled, maturity-checked, steered and signed URLs for one title."""
