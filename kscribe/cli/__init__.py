"""The kscribe command and its progress display."""
