"""Local-only tooling: emulators and the local pipeline. Never deployed (.gcloudignore)."""
