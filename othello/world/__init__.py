"""The game itself: squares and their names, bitboards, the engine, per-position labels (the
board from the mover's view, legal moves), the token vocabulary and the move policies."""
