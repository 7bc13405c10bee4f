"""The local multi-process stack: a broker routing by the Knative Trigger manifests, Redis,
the GCS emulator, and `python -m kscribe_stack submit`. Development only; production runs on Knative."""
