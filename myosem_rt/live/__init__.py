"""The live engine: a consumed EMG stream -> per-hop ranked descriptions, smoothed labels and outputs."""
