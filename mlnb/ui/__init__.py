"""Interactive front ends: the launcher and runs-browser widgets, and progress display.

``mlnb.ui.progress`` has no widget dependency (the CLI uses it); ``mlnb.ui.launcher`` and
``mlnb.ui.runs_browser`` import ipywidgets and are meant for JupyterLab. The pipeline's stage
notebooks never import this package.
"""
