"""The default model, shipped as package data (see README.md here)."""
