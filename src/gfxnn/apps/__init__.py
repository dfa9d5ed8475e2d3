"""Applications behind the `gfxnn` command: `fit` (the flagship), `render`, ...

Each app is a module with a plain Python function (`run_fit`, `render_checkpoint`) that the
command-line layer in `gfxnn.cli` calls; nothing is imported here so the command starts fast.
"""
