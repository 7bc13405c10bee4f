"""The event handlers, the in-process bus and runner, the reconciler, retention, batches, the line."""
