"""Jobs: one optimization problem submitted, queued, run by a worker and its result stored."""
