"""Everything kscribe keeps in Redis: jobs, claims, batches, uploads, lanes, purge plans, secrets, keys."""
