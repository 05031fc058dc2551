"""The store's revisions, oldest first (optimizer/migrations)."""
