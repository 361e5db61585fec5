"""Billing service: plans, subscriptions, idempotent charges, renewals, the ledger, entitlement."""
