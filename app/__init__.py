"""The HTTP side of optaas: FastAPI app, resources (jobs, API keys), persistence and the CLI."""
