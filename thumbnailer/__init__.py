"""Thumbnails for images uploaded to Cloud Storage; see README.md."""
