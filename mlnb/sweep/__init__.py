"""Sweeps: the highest VALID Server QPS, rate ladders, the throughput-interactivity curve and goodput."""
