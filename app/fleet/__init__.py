"""Which worker processes are alive and what they serve (used to route ``device: auto``)."""
