"""Servers mlnb starts for a run, and the record that lets `mlnb cleanup` stop only those."""
