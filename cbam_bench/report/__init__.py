"""Stored studies turned into answers for people: Rich tables, exports for papers, plots."""
