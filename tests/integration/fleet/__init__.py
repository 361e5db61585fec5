"""Integration tests of the fleet service against moto."""
