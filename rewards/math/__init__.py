"""The math verifier: final-answer extraction and math-verify comparison."""
