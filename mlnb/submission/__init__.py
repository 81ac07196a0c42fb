"""MLPerf Inference submission helpers: the system description and what goes with it."""
