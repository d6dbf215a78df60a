"""Other people's files: published checkpoint formats and TransformerLens (formats), the
Hugging Face hub (hub) and GPU-run bundles (bundle)."""
