"""The composition root (wiring) and health checks."""
