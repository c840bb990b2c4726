"""Rollout engines: generate responses and the log-probs of the distribution that sampled them."""
