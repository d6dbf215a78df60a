"""The model: its shape (config), the hooked GPT (gpt), the one owner of hook names and layer
numbers (hooks), saving and loading (checkpoint), run directories (run_dir) and legal-move
evaluation (evaluate)."""
