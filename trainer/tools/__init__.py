"""Tool-integrated rollouts: the model writes Python, the Sandbox service runs it, the output is read."""
