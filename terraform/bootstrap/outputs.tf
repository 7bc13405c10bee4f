output "state_bucket" {
  description = "The bucket to name in the main configuration's -backend-config (bucket = …)."
  value       = google_storage_bucket.state.name
}
