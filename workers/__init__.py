"""The worker side: Celery app, tasks, queue routing, job execution, and the solver core."""
