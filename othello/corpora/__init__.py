"""Games on disk: synthetic corpora (generate, shards), imported championship games (pgn,
wthor, records), the HDF5 games file (corpus) and the training stream (game_stream)."""
