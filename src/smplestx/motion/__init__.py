"""Motion capture: tracking people across video frames, temporal smoothing, per-track sequences."""
