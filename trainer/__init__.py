"""The RL trainer: config, data, model loading, rollout engines, algorithms, the training loop."""
