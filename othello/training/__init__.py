"""Training: presets and overrides (config), the objectives, model FLOPs, the batches streamed
from a games file (game_stream), the training loop."""
