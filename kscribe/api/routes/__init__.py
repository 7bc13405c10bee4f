"""api.routes: see the module map in README.md."""
