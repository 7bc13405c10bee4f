"""Tenants, API keys, rate limits, usage and upload budgets."""
