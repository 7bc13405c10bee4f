"""The local multi-process stack: a broker routing by the Knative Trigger manifests, Redis,
the GCS emulator, and `kscribe submit`. Development only; production runs on Knative."""
