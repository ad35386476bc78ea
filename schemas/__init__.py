"""The public contract: problem specs, job and error resources, array encoding (pydantic v2)."""
