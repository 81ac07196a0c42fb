"""What the system did during a stage: device, host and server samples, energy, hardware state.

``sampler.TelemetrySampler`` runs in the harness around the LoadGen test; the other modules each
read one source (``device`` NVML, ``host`` psutil and RAPL, ``prometheus`` a server's /metrics),
``energy`` integrates power, ``aggregate`` turns the series into summary.json's ``telemetry``.
"""
