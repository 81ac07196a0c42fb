"""mlnb: MLPerf-Inference-style LLM benchmarks, run from notebooks, reported as HTML."""

__version__ = "0.1.0"
