"""Othello-GPT toolkit: the world (rules, corpora, tokens) and the model that learns it."""

__version__ = "0.1.0"
