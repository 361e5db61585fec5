"""Recommendations service: viewing events per profile, the nightly batch, per-profile picks."""
