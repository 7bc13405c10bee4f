"""The API's routes, one module per family: create, jobs, uploads, page, batches, openai, links."""
