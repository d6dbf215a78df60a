"""Training: presets and overrides (config), the objectives, model FLOPs, the training loop."""
