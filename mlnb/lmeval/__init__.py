"""lm-eval (EleutherAI's lm-evaluation-harness) inside mlnb: task lookup, run settings, results."""
