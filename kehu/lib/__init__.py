"""Leaf helpers shared by every app. Nothing in here imports a kehu app."""
