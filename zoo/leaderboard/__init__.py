"""The results store (SQLite, WAL) and its views."""

from zoo.leaderboard.store import COLUMNS, Leaderboard, default_db_path

__all__ = ["COLUMNS", "Leaderboard", "default_db_path"]
