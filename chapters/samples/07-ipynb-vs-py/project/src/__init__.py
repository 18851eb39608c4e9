"""Reusable code that graduated from the project's notebooks."""
