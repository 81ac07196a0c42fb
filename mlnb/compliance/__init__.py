"""MLPerf compliance tests."""
