"""``make bench``: speed, memory and quality of the thumbnail path against naive Pillow, libvips and the decode floor.

Local only (excluded from deploys by .gcloudignore). Nothing is imported here, so the
memory probes that run as ``python -m bench.memory_probe`` pay only for what they use.
"""
