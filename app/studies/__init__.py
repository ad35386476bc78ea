"""Ask/tell Bayesian-optimization studies: the state lives here, suggestions come from workers."""
